"""Generate the workload kinds' APIResourceSchema specs from a real kube-apiserver.

``python -m tmc.install.generate_workloads`` (or ``hack/generate-workload-schemas``) starts etcd and the
kube-apiserver the test harness builds (no controllers or nodes), and for each kind in
:data:`tmc.api.workloads.WORKLOAD_KINDS` reads what kcp needs, as kcp's crd-puller does:

- discovery (``/apis/<group>/<version>``): scope, singular, short names, categories, and whether the kind
  has ``status`` and ``scale`` subresources (``<plural>/status``, ``<plural>/scale``);
- ``/openapi/v3/<group-version>``: the schema, made structural by :mod:`tmc.install.structural`;
- a Table listing (``Accept: ...;as=Table``): the ``kubectl get`` columns, mapped to JSONPaths by
  :mod:`tmc.install.workload_columns`.

It writes one file per kind into ``src/tmc/api/workloads/``; ``--check`` compares instead and exits 1 on a
difference (what the e2e drift test runs). Output is deterministic: the same apiserver gives the same bytes.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tmc.api import workloads as workloads_module
from tmc.api.workloads import WORKLOAD_KINDS, WorkloadKind, read_schema_text, serialize
from tmc.install.structural import Conversion, kind_schema_name, structural_schema
from tmc.install.workload_columns import printer_columns
from tmc.kcp.kubeconfig import ClusterAccess

JSON = dict[str, Any]
TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
GENERATOR = "hack/generate-workload-schemas"


class GenerationError(RuntimeError):
    """The apiserver's answers cannot be turned into a schema (missing kind, unexpected shape)."""


@dataclass
class ServerApi:
    """Everything read from the apiserver, so building the specs is pure."""

    git_version: str
    discovery: dict[str, JSON] = field(default_factory=dict)  # group-version -> APIResourceList
    openapi: dict[str, JSON] = field(default_factory=dict)  # group-version -> OpenAPI v3 document
    columns: dict[str, list[JSON]] = field(default_factory=dict)  # kind -> Table columnDefinitions


def _group_version_path(kind: WorkloadKind) -> str:
    return f"apis/{kind.group}/{kind.version}" if kind.group else f"api/{kind.version}"


async def fetch_api(access: ClusterAccess, kinds: Sequence[WorkloadKind] = WORKLOAD_KINDS) -> ServerApi:
    """Read version, discovery, OpenAPI v3 and Table columns for ``kinds`` from a running apiserver."""
    headers = {"Accept": "application/json", "User-Agent": "tmc-generate-workloads"}
    if access.token:
        headers["Authorization"] = f"Bearer {access.token}"
    # httpx directly (not KubeClient): the Table request needs its own Accept header.
    async with httpx.AsyncClient(
        base_url=access.server, headers=headers, verify=access.ssl_context(), timeout=60.0
    ) as http:

        async def get(path: str, accept: str | None = None) -> JSON:
            response = await http.get(path, headers={"Accept": accept} if accept else None)
            if response.status_code != 200:
                raise GenerationError(f"GET {path}: HTTP {response.status_code}: {response.text[:300]}")
            result: JSON = response.json()
            return result

        api = ServerApi(git_version=str((await get("/version"))["gitVersion"]))
        index = (await get("/openapi/v3"))["paths"]
        for kind in kinds:
            gv = _group_version_path(kind)
            if gv not in api.discovery:
                api.discovery[gv] = await get(f"/{gv}")
                if gv not in index:
                    raise GenerationError(f"/openapi/v3 does not list {gv}")
                api.openapi[gv] = await get(index[gv]["serverRelativeURL"])
            table = await get(f"/{gv}/{kind.plural}?limit=1", accept=TABLE_ACCEPT)
            if table.get("kind") != "Table":
                raise GenerationError(f"/{gv}/{kind.plural} did not answer with a Table (got {table.get('kind')})")
            api.columns[kind.kind] = table["columnDefinitions"]
    return api


def build_spec(kind: WorkloadKind, api: ServerApi, conversion: Conversion | None = None) -> tuple[JSON, JSON]:
    """(source, APIResourceSchema spec) of ``kind`` from what :func:`fetch_api` read."""
    gv = _group_version_path(kind)
    listing = api.discovery[gv]["resources"]
    by_name = {resource["name"]: resource for resource in listing}
    resource = by_name.get(kind.plural)
    if resource is None or resource.get("kind") != kind.kind:
        raise GenerationError(f"discovery of {gv} has no resource {kind.plural} of kind {kind.kind}")
    document = api.openapi[gv]
    schema_name = kind_schema_name(document, kind.group, kind.version, kind.kind)
    schema = structural_schema(document, schema_name, conversion)

    names: JSON = {
        "kind": kind.kind,
        "listKind": f"{kind.kind}List",
        "plural": kind.plural,
        "singular": resource.get("singularName") or kind.kind.lower(),
    }
    if resource.get("shortNames"):
        names["shortNames"] = list(resource["shortNames"])
    if resource.get("categories"):
        names["categories"] = list(resource["categories"])

    subresources: JSON = {}
    if f"{kind.plural}/status" in by_name:
        subresources["status"] = {}
    if f"{kind.plural}/scale" in by_name:
        for path in ("spec", "status"):
            replicas = schema["properties"].get(path, {}).get("properties", {}).get("replicas", {})
            if replicas.get("type") != "integer":
                raise GenerationError(f"{kind.kind} has a scale subresource but no integer .{path}.replicas")
        # As crd-puller: no labelSelectorPath, because Kubernetes computes the scale's selector from
        # spec.selector and no status field holds it serialized, which is what a CRD's path must name.
        subresources["scale"] = {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}

    version: JSON = {
        "name": kind.version,
        "served": True,
        "storage": True,
        "schema": schema,
        "subresources": subresources,
        "additionalPrinterColumns": printer_columns(kind.kind, api.columns[kind.kind]),
    }
    spec: JSON = {
        "group": kind.group,
        "names": names,
        "scope": "Namespaced" if resource["namespaced"] else "Cluster",
        "versions": [version],
    }
    source = {
        "generator": GENERATOR,
        "kubeApiserver": api.git_version,
        "openapi": f"/openapi/v3/{gv}",
        "schema": schema_name,
    }
    return source, spec


def render_files(api: ServerApi, conversion: Conversion | None = None) -> dict[str, str]:
    """file name -> committed text, for every workload kind."""
    files: dict[str, str] = {}
    for kind in WORKLOAD_KINDS:
        source, spec = build_spec(kind, api, conversion)
        files[kind.file_name] = serialize(source, spec)
    return files


async def generate(conversion: Conversion | None = None, *, access: ClusterAccess | None = None) -> dict[str, str]:
    """file name -> text, read from the apiserver at ``access``, or by default from a throw-away
    etcd + kube-apiserver started (and stopped) for the purpose."""
    if access is not None:
        return render_files(await fetch_api(access), conversion)
    from tmc.local.physical_cluster import PhysicalCluster  # the test harness; only the generator needs it

    with tempfile.TemporaryDirectory(prefix="tmc-generate-") as work_dir:
        cluster = PhysicalCluster("schemas", Path(work_dir))
        try:
            await cluster.start(control_plane_only=True)
            api = await fetch_api(cluster.access)
        finally:
            await cluster.stop()
    return render_files(api, conversion)


def default_output_dir() -> Path:
    return Path(workloads_module.__file__).with_name(workloads_module.SCHEMA_DIR)


def differences(files: dict[str, str]) -> list[str]:
    """Committed files that differ from ``files`` (missing ones included)."""
    kinds = {kind.file_name: kind for kind in WORKLOAD_KINDS}
    return [name for name, text in sorted(files.items()) if read_schema_text(kinds[name]) != text]


def _summary(conversion: Conversion) -> str:
    dropped = ", ".join(f"{key} x{count}" for key, count in sorted(Counter(conversion.dropped).items()))
    lines = [f"dropped: {dropped or 'nothing'}"]
    lines += [f"adjusted: {item}" for item in sorted(set(conversion.adjustments))]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="compare with the committed files; exit 1 if they differ")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: the package's workloads/)")
    args = parser.parse_args(argv)
    conversion = Conversion()
    files = asyncio.run(generate(conversion))
    print(_summary(conversion), file=sys.stderr)
    if args.check:
        stale = differences(files)
        if stale:
            print(f"out of date: {', '.join(stale)}; run {GENERATOR}", file=sys.stderr)
            return 1
        print(f"{len(files)} workload schemas are up to date", file=sys.stderr)
        return 0
    out: Path = args.out or default_output_dir()
    out.mkdir(parents=True, exist_ok=True)
    for name, text in sorted(files.items()):
        (out / name).write_text(text, encoding="utf-8")
        print(f"wrote {out / name} ({len(text)} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
