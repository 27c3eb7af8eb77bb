"""The API reference's sections on the served workload kinds and on the permission claims.

Rendered from the committed generated schemas (:mod:`tmc.api.workloads`) and :mod:`tmc.api.claims`, so
the reference says exactly what ``tmc install`` creates and what ``tmc bind`` accepts.
"""

from __future__ import annotations

from tmc.api._base import unwrap_text
from tmc.api.claims import TMC_PERMISSION_CLAIMS
from tmc.api.constants import EXPORT_NAME, WORKLOADS_EXPORT_NAME
from tmc.api.registry import WORKLOAD_RESOURCES, ResourceInfo
from tmc.api.workloads import WORKLOAD_KINDS, generated_schema


def _code(text: str) -> str:
    return "`" + text.replace("|", "\\|") + "`"


def _cell(text: str) -> str:
    return unwrap_text(text).replace("\n\n", " ").replace("|", "\\|")


_VALIDATION_NOTES = """\
kcp validates everything a schema can express, as the cluster would: types, required fields, formats,
list keys. The differences, and why:

- **Cross-field rules** (a Deployment's selector must match its template's labels, a Service port must be
  in 1-65535, names must be DNS labels) are Go code in the apiserver, not schema: kcp accepts such an
  object and the cluster refuses it when TMC syncs it; TMC reports the cluster's own message.
- **Quantities** (`resources.requests.cpu`, a claim's `storage`) are not checked by kcp. Kubernetes
  accepts a string (`500m`) or a JSON number (`0.5`); a structural schema can say "string or integer"
  but not "string or number", and refusing `cpu: 0.5` would refuse manifests every cluster accepts.
- **Defaults**: kcp applies only the non-zero defaults the apiserver publishes (`protocol: TCP` on
  ports, a few legacy volume sources' options such as `rbd.pool: rbd`) and `name: ""` on
  `imagePullSecrets` entries (a list key must be present; the apiserver stores the same). The rest
  (`replicas: 1`, `strategy`, ...) is defaulted by the cluster when the object is synced. The OpenAPI's
  zero-value defaults (`""`, `0`, `{}`) are dropped, so a missing required field (a container's `name`)
  is refused by kcp as by the cluster instead of being defaulted to empty.
- **Keyed lists** (containers and volumes by `name`, `env` by `name`, container ports by
  `containerPort` + `protocol`, ...) must not repeat a key. A cluster accepts some repeats with only a
  warning (`env`, container ports, `hostAliases`, `imagePullSecrets`), but server-side apply, which TMC's
  sync uses, refuses them; kcp refuses them at once.
- **Service** `spec.clusterIP`, `clusterIPs` and ports' `nodePort` are accepted and kept in kcp, but not
  copied to clusters: each cluster assigns its own.
- **Scale**: Deployments and StatefulSets have the `scale` subresource (`kubectl scale` works); its
  `status.selector` stays empty because Kubernetes computes it and no field holds it.
"""


def _kind_table() -> list[str]:
    out = [
        "| Kind | API version | Resource | Short names | Subresources | APIResourceSchema |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for info in WORKLOAD_RESOURCES:
        subresources = ["status"] + (["scale"] if info.scale is not None else [])
        out.append(
            f"| {info.kind} | {_code(info.api_version)} | {_code(info.plural)} "
            f"| {', '.join(_code(n) for n in info.short_names) or '-'} | {', '.join(subresources)} "
            f"| {_code(info.api_resource_schema_name())} |"
        )
    return out


def _columns(info: ResourceInfo) -> list[str]:
    out = [
        f"#### {info.kind}",
        "",
        "| Column | Type | JSONPath | Priority | Description |",
        "| --- | --- | --- | --- | --- |",
    ]
    for column in info.printer_columns:
        out.append(
            f"| {column.name} | {column.type} | {_code(column.json_path)} | {column.priority} "
            f"| {_cell(column.description)} |"
        )
    return [*out, ""]


def workload_sections() -> list[str]:
    """``## Workload kinds``: what the ``kubernetes`` export serves and how kcp validates it."""
    sources = {generated_schema(kind).source["kubeApiserver"] for kind in WORKLOAD_KINDS}
    out = [
        "## Workload kinds",
        "",
        f"The APIExport {_code(WORKLOADS_EXPORT_NAME)} in `root:tmc` serves the kinds tenants place, with the",
        f"schemas of kube-apiserver {', '.join(sorted(sources))}: `hack/generate-workload-schemas` reads a real",
        "apiserver's discovery, OpenAPI v3 and `kubectl get` columns and writes `src/tmc/api/workloads/*.json`,",
        "which `tmc install` turns into APIResourceSchemas (an e2e test regenerates and compares them).",
        "ConfigMaps, Secrets and ServiceAccounts are served by kcp itself.",
        "",
        *_kind_table(),
        "",
        "### Validation",
        "",
        _VALIDATION_NOTES,
        "### `kubectl get` columns",
        "",
        "The apiserver's own columns, each shown through one JSONPath (kcp prints its first match); a column",
        "that is computed (a Job's `Duration`, a CronJob's `Active` count, an Ingress's `Ports`) is left out.",
        "",
    ]
    for info in WORKLOAD_RESOURCES:
        out += _columns(info)
    return out


def claim_sections() -> list[str]:
    """``## Permission claims``: what a tenant accepts when binding, verb by verb."""
    out = [
        "## Permission claims",
        "",
        f"The APIExport {_code(EXPORT_NAME)} asks each tenant workspace for these claims; `tmc bind` accepts",
        "them with the same verbs and `matchAll`. kcp (v0.32) allows a request through the export's virtual",
        "workspace only when its verb is in both the export's and the binding's claim. Claims on workload",
        f"kinds name the identity hash of the {_code(WORKLOADS_EXPORT_NAME)} export.",
        "",
        "| Group | Resource | Verbs | Identity | Why |",
        "| --- | --- | --- | --- | --- |",
    ]
    for claim in TMC_PERMISSION_CLAIMS:
        identity = _code(claim.identity_of_export) if claim.identity_of_export else "built in"
        out.append(
            f"| {_code(claim.group) if claim.group else '(core)'} | {_code(claim.resource)} "
            f"| {', '.join(claim.verbs)} | {identity} | {_cell(claim.reason)} |"
        )
    return [*out, ""]
