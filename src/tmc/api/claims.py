"""The permission claims of TMC's ``tmc.kcp.io`` APIExport: what a tenant lets TMC do, verb by verb, and why.

A tenant accepting the claims (``tmc bind`` does) lets TMC's controllers reach these resources of the
tenant's workspace through the export's virtual workspace. kcp v0.32 (``apis.kcp.io/v1alpha2``) enforces
the verbs: a request through the virtual workspace is allowed only if its verb is in both the export's
claim and the binding's accepted claim (the intersection; ``*`` matches any verb), and kcp flags a binding
whose accepted verbs differ from the export's. So each claim below lists exactly the verbs the controllers
send, and its reason says what for. Claims on kinds of TMC's own ``kubernetes`` export name that export's
identity hash (kcp requires one for every resource that is not built in).

Requests on a subresource (``deployments/status``) are authorized by the resource's claim and the verb.
"""

from __future__ import annotations

from dataclasses import dataclass

from tmc.api.constants import SYNC_FINALIZER, WORKLOADS_EXPORT_NAME
from tmc.api.workloads import WORKLOAD_KINDS

READ_VERBS: tuple[str, ...] = ("get", "list", "watch")
"""Informers list and watch; reconcilers and the sync engine get single objects by name."""

WORKLOAD_VERBS: tuple[str, ...] = (*READ_VERBS, "update", "patch")


@dataclass(frozen=True, slots=True)
class ClaimSpec:
    """A permission claim TMC's export asks tenants to accept, and why."""

    group: str
    resource: str
    verbs: tuple[str, ...]
    reason: str
    identity_of_export: str | None = None  # claims on resources of another export carry its identity hash


def _workload_claim(group: str, plural: str, kind: str) -> ClaimSpec:
    return ClaimSpec(
        group,
        plural,
        WORKLOAD_VERBS,
        f"get/list/watch: select and sync placed {kind}s (one watch per resource for all tenants);"
        f" patch: add and remove the `{SYNC_FINALIZER}` finalizer that holds deletion until the copies are gone;"
        " update/patch on `status`: write back what the clusters report",
        identity_of_export=WORKLOADS_EXPORT_NAME,
    )


TMC_PERMISSION_CLAIMS: tuple[ClaimSpec, ...] = (
    ClaimSpec(
        "",
        "secrets",
        READ_VERBS,
        "read the kubeconfig Secret a ClusterRegistration names; copy the Secrets a placed pod template references"
        " (volumes, env, envFrom, imagePullSecrets) to its clusters; ServiceAccount token Secrets are never copied",
    ),
    ClaimSpec(
        "",
        "configmaps",
        READ_VERBS,
        "copy the ConfigMaps a placed pod template references (volumes, env, envFrom) to its clusters",
    ),
    ClaimSpec(
        "",
        "serviceaccounts",
        READ_VERBS,
        "copy the ServiceAccount a placed pod template names (`serviceAccountName`) to its clusters",
    ),
    ClaimSpec(
        "",
        "namespaces",
        READ_VERBS,
        "map each tenant namespace to its physical namespace and follow the namespaces of placed workloads",
    ),
    ClaimSpec(
        "",
        "events",
        ("create", "get", "patch"),
        "report placement, sync and health events on the tenant's objects; a repeated event is folded into the"
        " existing one (get, then patch its count), as client-go's recorder does",
    ),
    *(_workload_claim(kind.group, kind.plural, kind.kind) for kind in WORKLOAD_KINDS),
)
"""Every claim of the ``tmc.kcp.io`` export, in the order they are exported and documented."""
