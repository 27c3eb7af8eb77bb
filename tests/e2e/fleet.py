"""Many tiny workloads across tenants and clusters, and the check that what is on kcp and on every cluster is
exactly what the test asked for: the fault tests' yardstick.

``Fleet`` records what a test created and deleted; ``problems()`` compares kcp and the clusters with it:

- every live workload exists, is not being deleted, has its binding, the binding reports ``Applied`` on each
  chosen cluster at its generation, and (``ready``) the tenant's object reports its replica Ready at its
  generation: status came back too;
- each chosen cluster holds exactly one copy of it, in the namespace ``Locator`` maps it to, with the binding's
  replica count (no missing copy, no duplicate); no other cluster holds one (no stale copy);
- every deleted workload is gone from kcp (its finalizer was released), with its binding, and from every
  cluster (the deletion was not lost);
- no cluster holds a copy that names one of the fleet's tenants as origin but no live workload (no orphan).

Copies made for other tests' tenants on the shared session clusters are ignored (their origin names another
logical cluster).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field

from tmc.api import WORKLOAD_PLACEMENT, binding_name
from tmc.controllers.sync.naming import MANAGED_LABEL, Locator, origin_of
from tmc.controllers.workloadplacement.bindings import BINDINGS as BINDINGS
from tmc.errors import ApiError
from tmc.install.register import ClusterSpec, register_cluster
from tmc.kcp.kubeconfig import ClusterAccess
from tmc.kcp.paths import LogicalClusterPath
from tmc.kcp.resources import DEPLOYMENTS, LOGICAL_CLUSTERS, NAMESPACES, resource_of
from tmc.kcp.rest import JSON, KubeClient

PLACEMENTS = resource_of(WORKLOAD_PLACEMENT)
NAMESPACE = "default"
WorkloadKey = tuple[str, str]  # (tenant workspace path, workload name)


def tiny_deployment(name: str, labels: Mapping[str, str] | None = None) -> JSON:
    """One replica of a container kwok pretends to run; nothing else."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": name, **(labels or {})}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}]},
            },
        },
    }


def one_cluster_placement(
    name: str = "fleet", *, workloads: Mapping[str, str] | None = None, clusters: Mapping[str, str] | None = None
) -> JSON:
    """RoundRobin onto exactly one cluster per workload (so every copy has one right place); optionally only
    the workloads and clusters with the given labels."""
    spec: JSON = {
        "strategy": "RoundRobin",
        "workloadSelector": {"resources": [{"apiVersion": "apps/v1", "kind": "Deployment"}]},
        "capabilityRequirements": [{"type": "compute", "required": True}],
        "numberOfClusters": {"min": 1, "max": 1},
    }
    if workloads:
        spec["workloadSelector"]["labelSelector"] = {"matchLabels": dict(workloads)}
    if clusters:
        spec["locationSelector"] = {"matchLabels": dict(clusters)}
    return {
        "apiVersion": "tmc.kcp.io/v1alpha1",
        "kind": "WorkloadPlacement",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": spec,
    }


async def register_access(
    client: KubeClient, tenant: LogicalClusterPath, name: str, access: ClusterAccess, region: str
) -> None:
    """A registration reaching its cluster through ``access`` (e.g. through a proxy's port)."""
    spec = ClusterSpec(
        name=name,
        kubeconfig=access.to_kubeconfig_yaml(name),
        location=name,
        labels={"region": region},
        capabilities=("compute", "storage"),
    )
    await register_cluster(client, tenant, spec)


async def logical_cluster(client: KubeClient, workspace: LogicalClusterPath) -> str:
    obj = await client.get(LOGICAL_CLUSTERS, "cluster", cluster=workspace)
    return str(obj["metadata"]["annotations"]["kcp.io/cluster"])


def applied_everywhere(binding: JSON) -> bool:
    wanted = {c["name"] for c in binding.get("spec", {}).get("clusters", [])}
    status = binding.get("status") or {}
    done = {c["name"] for c in status.get("clusters", []) if c.get("applied") and c.get("reason") == "Applied"}
    seen = status.get("observedGeneration") == binding["metadata"].get("generation")
    return bool(wanted) and wanted <= done and seen


def _ready(workload: JSON) -> bool:
    status = workload.get("status") or {}
    seen = status.get("observedGeneration") == workload["metadata"].get("generation")
    return bool(seen and status.get("readyReplicas") == workload["spec"].get("replicas", 1))


@dataclass
class Fleet:
    kcp: KubeClient
    clusters: Mapping[str, ClusterAccess]
    """Registration name (the same in every tenant) -> direct access to its cluster, for the checks."""
    tenants: dict[LogicalClusterPath, str] = field(default_factory=dict)
    """Workspace path -> logical cluster name (what the copies' origin annotations say)."""
    live: set[WorkloadKey] = field(default_factory=set)
    deleted: set[WorkloadKey] = field(default_factory=set)
    created_at: dict[WorkloadKey, float] = field(default_factory=dict)
    _direct: dict[str, KubeClient] = field(default_factory=dict)

    async def add_tenant(self, path: LogicalClusterPath) -> None:
        self.tenants[path] = await logical_cluster(self.kcp, path)

    async def create(self, tenant: LogicalClusterPath, name: str, labels: Mapping[str, str] | None = None) -> None:
        self.created_at[(tenant.value, name)] = time.monotonic()
        await self.kcp.create(DEPLOYMENTS, tiny_deployment(name, labels), cluster=tenant, namespace=NAMESPACE)
        self.live.add((tenant.value, name))

    async def create_many(
        self,
        names: Iterable[tuple[LogicalClusterPath, str]],
        *,
        concurrency: int = 10,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        slots = asyncio.Semaphore(concurrency)

        async def one(tenant: LogicalClusterPath, name: str) -> None:
            async with slots:
                await self.create(tenant, name, labels)

        await asyncio.gather(*(one(tenant, name) for tenant, name in names))

    async def delete(self, tenant: LogicalClusterPath, name: str) -> None:
        self.live.discard((tenant.value, name))
        self.deleted.add((tenant.value, name))
        await self.kcp.delete(DEPLOYMENTS, name, cluster=tenant, namespace=NAMESPACE)

    async def applied(self) -> list[WorkloadKey]:
        """Live workloads whose binding reports Applied now (for choosing what to delete mid-sync)."""
        done = []
        for tenant in self.tenants:
            bindings = await self.kcp.list(BINDINGS, cluster=tenant, namespace=NAMESPACE)
            names = {b["metadata"]["name"] for b in bindings["items"] if applied_everywhere(b)}
            done += [key for key in self.live if key[0] == tenant.value and binding_name("Deployment", key[1]) in names]
        return sorted(done)

    def _client(self, registration: str) -> KubeClient:
        if registration not in self._direct:
            self._direct[registration] = KubeClient(self.clusters[registration], timeout=10)
        return self._direct[registration]

    async def close(self) -> None:
        for client in self._direct.values():
            await client.close()
        self._direct.clear()

    async def problems(
        self, *, ready: bool = True, only: Iterable[str] | None = None, allowed: Iterable[str] | None = None
    ) -> list[str]:
        """What differs from the desired state. ``only``: the registrations whose clusters are looked at (the
        others may be down; what is on them is not known). ``allowed``: the registrations a binding may choose
        (the others are lost)."""
        checked = set(self.clusters if only is None else only)
        placeable = set(self.clusters if allowed is None else allowed)
        found: list[str] = []
        wanted: dict[WorkloadKey, dict[str, int | None]] = {}
        for tenant in self.tenants:
            workloads = {
                w["metadata"]["name"]: w
                for w in (await self.kcp.list(DEPLOYMENTS, cluster=tenant, namespace=NAMESPACE))["items"]
            }
            bindings = {
                b["metadata"]["name"]: b
                for b in (await self.kcp.list(BINDINGS, cluster=tenant, namespace=NAMESPACE))["items"]
            }
            for name in workloads:
                key = (tenant.value, name)
                if key not in self.live and key not in self.deleted:
                    found.append(f"{tenant}/{name}: in kcp but never created by the test")
            for tenant_path, name in sorted(self.live):
                if tenant_path != tenant.value:
                    continue
                workload = workloads.get(name)
                binding = bindings.get(binding_name("Deployment", name))
                if workload is None or workload["metadata"].get("deletionTimestamp"):
                    found.append(f"{tenant}/{name}: live workload missing or being deleted in kcp")
                    continue
                if binding is None:
                    found.append(f"{tenant}/{name}: no binding")
                    continue
                if not applied_everywhere(binding):
                    found.append(
                        f"{tenant}/{name}: binding not Applied: {(binding.get('status') or {}).get('clusters')}"
                    )
                if ready and not _ready(workload):
                    found.append(f"{tenant}/{name}: tenant status not Ready: {workload.get('status')}")
                chosen = {c["name"]: c.get("replicas") for c in binding.get("spec", {}).get("clusters", [])}
                if set(chosen) - placeable:
                    found.append(
                        f"{tenant}/{name}: placed on {sorted(set(chosen) - placeable)}, which may not be chosen"
                    )
                wanted[(tenant.value, name)] = chosen
            for tenant_path, name in sorted(self.deleted):
                if tenant_path != tenant.value:
                    continue
                if name in workloads:
                    found.append(
                        f"{tenant}/{name}: deleted workload still in kcp"
                        f" (finalizers {workloads[name]['metadata'].get('finalizers')})"
                    )
                if binding_name("Deployment", name) in bindings:
                    found.append(f"{tenant}/{name}: deleted workload's binding still in kcp")

        by_logical = {logical: path for path, logical in self.tenants.items()}
        copies: dict[WorkloadKey, list[tuple[str, str, JSON]]] = defaultdict(list)
        for registration in sorted(checked):
            try:
                listing = await self._client(registration).list(DEPLOYMENTS, label_selector=f"{MANAGED_LABEL}=true")
            except ApiError as exc:
                found.append(f"cluster {registration}: cannot list copies: {exc.message}")
                continue
            for copy in listing["items"]:
                origin_cluster, _, kind, name = origin_of(copy)
                owner = by_logical.get(origin_cluster)
                if owner is None or kind != "Deployment":
                    continue  # another test's tenant
                copies[(owner.value, name)].append((registration, copy["metadata"]["namespace"], copy))
        for key in sorted(set(copies) | set(wanted)):
            here = copies.get(key, [])
            if key in self.deleted:
                found += [f"{key[0]}/{key[1]}: deleted, but a copy is still on {reg}" for reg, _, _ in here]
                continue
            if key not in wanted:
                if key not in self.live:
                    found += [f"{key[0]}/{key[1]}: orphaned copy on {reg} (no such workload)" for reg, _, _ in here]
                continue  # live but not yet placed: reported above
            logical = self.tenants[LogicalClusterPath(key[0])]
            for registration, replicas in wanted[key].items():
                if registration not in checked:
                    continue
                mine = [(ns, copy) for reg, ns, copy in here if reg == registration]
                if not mine:
                    found.append(f"{key[0]}/{key[1]}: missing copy on {registration}")
                    continue
                if len(mine) > 1:
                    found.append(f"{key[0]}/{key[1]}: {len(mine)} copies on {registration} (duplicate)")
                namespace, copy = mine[0]
                if namespace != Locator(logical, NAMESPACE, registration).physical_namespace:
                    found.append(f"{key[0]}/{key[1]}: copy on {registration} in the wrong namespace {namespace}")
                if copy["spec"].get("replicas") != replicas:
                    found.append(
                        f"{key[0]}/{key[1]}: copy on {registration} has {copy['spec'].get('replicas')} replicas,"
                        f" not {replicas}"
                    )
            for registration in sorted({reg for reg, _, _ in here} - set(wanted[key])):
                found.append(f"{key[0]}/{key[1]}: stale copy on {registration}, which is not chosen")
        return found

    async def wait_converged(
        self,
        timeout: float,
        *,
        context: str = "",
        ready: bool = True,
        only: Iterable[str] | None = None,
        allowed: Iterable[str] | None = None,
    ) -> float:
        """Seconds until ``problems()`` is empty; fails with the remaining problems (and ``context``, e.g. the
        seed) after ``timeout``. The clusters have no watch shared with kcp: the state is compared again every
        half second."""
        started = time.monotonic()
        while True:
            found = await self.problems(ready=ready, only=only, allowed=allowed)
            if not found:
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                shown = "\n  ".join(found[:25])
                more = f"\n  ... and {len(found) - 25} more" if len(found) > 25 else ""
                raise AssertionError(
                    f"{context}: not converged within {timeout:.0f}s; {len(found)} problems:\n  {shown}{more}"
                )
            await asyncio.sleep(0.5)

    async def remove_copies(self) -> None:
        """Test cleanup: delete the fleet's physical namespaces (the controllers are stopped by then)."""
        for registration in self.clusters:
            client = self._client(registration)
            for logical in self.tenants.values():
                with contextlib.suppress(ApiError):
                    await client.delete(NAMESPACES, Locator(logical, NAMESPACE, registration).physical_namespace)


@contextlib.asynccontextmanager
async def fleet(kcp: KubeClient, clusters: Mapping[str, ClusterAccess]) -> AsyncIterator[Fleet]:
    state = Fleet(kcp, clusters)
    try:
        yield state
    finally:
        with contextlib.suppress(Exception):
            await state.remove_copies()
        await state.close()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] if ordered else math.nan
