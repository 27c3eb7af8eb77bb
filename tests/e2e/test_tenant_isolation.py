"""Isolation proof: three tenants with identical names everywhere, random create / update / delete / re-place steps,
and after every step nothing of one tenant is visible to, placed by, synced for, or deleted by another, on kcp and
on every physical cluster.

The tenants use the same namespaces (``default``, ``prod``), the same workload and ConfigMap names (``web``, ``api``
and their ``-config``), the same placement name and the same registration names (``blue``, ``green``) for two
shared physical clusters; tenant ``t2``'s ``blue`` is the cluster the others call ``green`` and vice versa. What
differs is content: each tenant's image and ConfigMap data carry its own name and a version, its replica counts
and its placements' cluster selectors are its own. After each step the test waits (by watch, bounded) for the
step's workloads to converge, then compares everything against its own model of each tenant:

* kcp: each tenant's workspace holds exactly its own Deployments, ConfigMaps, bindings and placement, with its own
  content; each binding names only clusters its own placement's selector allows, and its status records the
  namespace its own locator maps to and the uids of its own copies; each workload's status sums its own replicas;
* every physical cluster: the managed copies are exactly those the tenants' bindings call for, each in the
  namespace of its own (tenant, namespace, registration) locator, with origin annotations naming its tenant, its
  tenant's content and its binding's replica share; a copy that stays wanted keeps its uid (never deleted and
  re-created by someone else's step); every TMC namespace's locator names a tenant whose registration points at
  that cluster.

The seed is random per run and printed with any failure; ``TMC_ISOLATION_SEED`` replays one,
``TMC_ISOLATION_STEPS`` changes the number of steps.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import time
from dataclasses import dataclass, field

import pytest

from tmc.controllers.sync.naming import (
    LOCATOR_ANNOTATION,
    MANAGED_LABEL,
    ORIGIN_CLUSTER,
    ORIGIN_KIND,
    ORIGIN_NAME,
    ORIGIN_NAMESPACE,
    Locator,
)
from tmc.controllers.workloadplacement.bindings import BINDINGS
from tmc.errors import ConflictError
from tmc.install.register import ClusterSpec, register_cluster
from tmc.kcp.paths import LogicalClusterPath
from tmc.kcp.resources import CONFIGMAPS, DEPLOYMENTS, NAMESPACES, Resource
from tmc.kcp.rest import JSON, KubeClient
from tmc.kcp.watching import wait_for_object
from tmc.local.nodes import NodeSpec
from tmc.local.physical_cluster import PhysicalCluster

from .conftest import HEARTBEAT, SLACK, BoundFactory, ClusterFactory
from .test_cluster_registration_controller import REGISTRATIONS, _has
from .test_sync_engine import PLACEMENTS, _logical_cluster

pytestmark = pytest.mark.e2e

SEED = int(os.environ.get("TMC_ISOLATION_SEED") or random.SystemRandom().randrange(2**32))
STEPS = int(os.environ.get("TMC_ISOLATION_STEPS") or 60)
WAIT = 2 * HEARTBEAT + SLACK
TENANTS = ("t0", "t1", "t2")
NAMESPACES_USED = ("default", "prod")
WORKLOADS = ("web", "api")
PLACEMENT = "spread"
PHYSICAL = ("iso-blue", "iso-green")
# Registration name -> physical cluster, per tenant: t2 names the two clusters the other way round.
REGISTRATIONS_OF = {
    "t0": {"blue": "iso-blue", "green": "iso-green"},
    "t1": {"blue": "iso-blue", "green": "iso-green"},
    "t2": {"blue": "iso-green", "green": "iso-blue"},
}
SELECTORS: dict[str, JSON] = {
    "blue": {"matchLabels": {"pool": "blue"}},
    "green": {"matchLabels": {"pool": "green"}},
    "both": {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["blue", "green"]}]},
}
ALLOWED = {"blue": {"blue"}, "green": {"green"}, "both": {"blue", "green"}}


# -- the model ------------------------------------------------------------------------------------------------


@dataclass
class Workload:
    replicas: int
    version: int


@dataclass
class Tenant:
    name: str
    path: LogicalClusterPath
    logical: str
    selector: dict[str, str]  # namespace -> key of SELECTORS
    workloads: dict[tuple[str, str], Workload] = field(default_factory=dict)

    def image(self, workload: Workload) -> str:
        return f"registry.example/{self.name}/app:1.{workload.version}"

    def config(self, namespace: str, name: str, workload: Workload) -> dict[str, str]:
        return {"tenant": self.name, "namespace": namespace, "workload": name, "version": str(workload.version)}

    def physical_namespace(self, namespace: str, registration: str) -> str:
        return Locator(self.logical, namespace, registration).physical_namespace


@dataclass
class Step:
    tenant: str
    op: str
    namespace: str
    name: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.tenant} {self.op} {self.namespace}/{self.name} {self.detail}".strip()


def _deployment(tenant: Tenant, namespace: str, name: str, workload: Workload) -> JSON:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"tier": "web"}},
        "spec": {
            "replicas": workload.replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": tenant.image(workload),
                            "envFrom": [{"configMapRef": {"name": f"{name}-config"}}],
                        }
                    ]
                },
            },
        },
    }


def _configmap(tenant: Tenant, namespace: str, name: str, workload: Workload) -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{name}-config", "namespace": namespace},
        "data": tenant.config(namespace, name, workload),
    }


def _placement(namespace: str, selector: str) -> JSON:
    return {
        "apiVersion": "tmc.kcp.io/v1alpha1",
        "kind": "WorkloadPlacement",
        "metadata": {"name": PLACEMENT, "namespace": namespace},
        "spec": {
            "strategy": "Spread",
            "workloadSelector": {
                "resources": [{"apiVersion": "apps/v1", "kind": "Deployment"}],
                "labelSelector": {"matchLabels": {"tier": "web"}},
            },
            "locationSelector": SELECTORS[selector],
            "numberOfClusters": {"min": 1, "max": 2},
            # Copies on a cluster no longer chosen go at once: each step's end state is then exact.
            "purgeMode": "Immediately",
        },
    }


# -- waiting (watches, bounded) -------------------------------------------------------------------------------


async def _wait_for_absence(
    client: KubeClient, resource: Resource, name: str, *, cluster: LogicalClusterPath, namespace: str
) -> None:
    """Until ``name`` is gone: a list by name, then a watch from that list for its DELETED event."""
    by_name = {"fieldSelector": f"metadata.name={name}"}

    async def gone() -> None:
        while True:  # a watch that ends without the event is re-listed
            listing = await client.list(resource, cluster=cluster, namespace=namespace, params=by_name)
            if not listing["items"]:
                return
            version = listing["metadata"]["resourceVersion"]
            path = resource.path(cluster, namespace=namespace)
            async for event in client.watch(path, resource_version=version, params=by_name):
                if event["type"] == "DELETED":
                    return

    try:
        await asyncio.wait_for(gone(), WAIT)
    except TimeoutError:
        raise TimeoutError(f"{resource.kind} {namespace}/{name} in {cluster} not gone within {WAIT:.0f}s") from None


class World:
    def __init__(self, client: KubeClient, tenants: dict[str, Tenant], direct: dict[str, KubeClient]) -> None:
        self.client = client
        self.tenants = tenants
        self.direct = direct  # physical cluster name -> admin client
        self.uids: dict[tuple[str, str, str, str], str] = {}  # copy key -> uid at the last check

    async def converged(self, tenant: Tenant, namespace: str, name: str) -> None:
        """The workload's binding, copies, dependency and status all reflect the model (or it is gone)."""
        workload = tenant.workloads.get((namespace, name))
        if workload is None:
            for resource, object_name in ((DEPLOYMENTS, name), (BINDINGS, f"deployment-{name}")):
                await _wait_for_absence(self.client, resource, object_name, cluster=tenant.path, namespace=namespace)
            return
        current = await self.client.get(DEPLOYMENTS, name, cluster=tenant.path, namespace=namespace)
        generation = current["metadata"]["generation"]
        allowed = ALLOWED[tenant.selector[namespace]]

        def placed_and_applied(binding: JSON) -> bool:
            chosen = {c["name"] for c in binding.get("spec", {}).get("clusters", [])}
            status = binding.get("status") or {}
            entries = status.get("clusters", [])
            return bool(
                chosen
                and chosen <= allowed
                and status.get("observedGeneration") == binding["metadata"]["generation"]
                and {e["name"] for e in entries} == chosen
                and all(
                    e.get("applied") and e.get("reason") == "Applied" and e.get("sourceGeneration") == generation
                    for e in entries
                )
            )

        binding = await wait_for_object(
            self.client,
            BINDINGS,
            f"deployment-{name}",
            placed_and_applied,
            cluster=tenant.path,
            namespace=namespace,
            timeout=WAIT,
        )

        def rolled_out(deployment: JSON) -> bool:
            status = deployment.get("status", {})
            want = workload.replicas
            return bool(  # what `kubectl rollout status` waits for (no surge pod left either)
                status.get("observedGeneration") == generation
                and status.get("updatedReplicas") == want
                and status.get("replicas") == want
                and status.get("readyReplicas") == want
                and status.get("availableReplicas") == want
            )

        await wait_for_object(
            self.client, DEPLOYMENTS, name, rolled_out, cluster=tenant.path, namespace=namespace, timeout=WAIT
        )
        data = tenant.config(namespace, name, workload)
        for chosen in binding["spec"]["clusters"]:
            direct = self.direct[REGISTRATIONS_OF[tenant.name][chosen["name"]]]
            await wait_for_object(
                direct,
                CONFIGMAPS,
                f"{name}-config",
                lambda cm: cm.get("data") == data,
                namespace=tenant.physical_namespace(namespace, chosen["name"]),
                timeout=WAIT,
            )

    async def placement_observed(self, tenant: Tenant, namespace: str, generation: int) -> None:
        def observed(placement: JSON) -> bool:
            return bool((placement.get("status") or {}).get("observedGeneration") == generation)

        await wait_for_object(
            self.client, PLACEMENTS, PLACEMENT, observed, cluster=tenant.path, namespace=namespace, timeout=WAIT
        )

    # -- the invariants ---------------------------------------------------------------------------------------

    async def check(self) -> None:
        expected = await self._check_kcp()
        await self._check_clusters(expected)

    async def _check_kcp(self) -> dict[tuple[str, str, str, str], JSON]:
        """Each tenant's objects in kcp against its model; returns the copies its bindings call for."""
        expected: dict[tuple[str, str, str, str], JSON] = {}
        for tenant in self.tenants.values():
            registrations = await self.client.list(REGISTRATIONS, cluster=tenant.path)
            assert {r["metadata"]["name"] for r in registrations["items"]} == {"blue", "green"}
            for namespace in NAMESPACES_USED:
                where = f"{tenant.name} {namespace}"
                mine = {n for (ns, n) in tenant.workloads if ns == namespace}
                deployments = await self.client.list(DEPLOYMENTS, cluster=tenant.path, namespace=namespace)
                assert {d["metadata"]["name"] for d in deployments["items"]} == mine, where
                configmaps = await self.client.list(CONFIGMAPS, cluster=tenant.path, namespace=namespace)
                configs = {
                    c["metadata"]["name"]: c for c in configmaps["items"] if c["metadata"]["name"] != "kube-root-ca.crt"
                }
                assert set(configs) == {f"{n}-config" for n in mine}, where
                bindings = await self.client.list(BINDINGS, cluster=tenant.path, namespace=namespace)
                assert {b["metadata"]["name"] for b in bindings["items"]} == {f"deployment-{n}" for n in mine}, where
                placement = await self.client.get(PLACEMENTS, PLACEMENT, cluster=tenant.path, namespace=namespace)
                assert placement["spec"]["locationSelector"] == SELECTORS[tenant.selector[namespace]], where
                by_binding = {b["spec"]["workload"]["name"]: b for b in bindings["items"]}
                for deployment in deployments["items"]:
                    name = deployment["metadata"]["name"]
                    workload = tenant.workloads[(namespace, name)]
                    container = deployment["spec"]["template"]["spec"]["containers"][0]
                    assert container["image"] == tenant.image(workload), f"{where}/{name}: another tenant's content"
                    assert deployment["spec"]["replicas"] == workload.replicas, f"{where}/{name}"
                    assert deployment["status"]["replicas"] == workload.replicas, f"{where}/{name}: status"
                    assert configs[f"{name}-config"]["data"] == tenant.config(namespace, name, workload)
                    binding = by_binding[name]
                    chosen = {c["name"]: c["replicas"] for c in binding["spec"]["clusters"]}
                    assert set(chosen) <= ALLOWED[tenant.selector[namespace]], f"{where}/{name}: placed by another"
                    assert sum(chosen.values()) == workload.replicas, f"{where}/{name}"
                    for entry in binding["status"]["clusters"]:
                        assert entry["namespace"] == tenant.physical_namespace(namespace, entry["name"]), where
                    for registration, replicas in chosen.items():
                        cluster = REGISTRATIONS_OF[tenant.name][registration]
                        physical = tenant.physical_namespace(namespace, registration)
                        entry = next(e for e in binding["status"]["clusters"] if e["name"] == registration)
                        uids = {(o["kind"], o["name"]): o["uid"] for o in entry["objects"]}
                        expected[(cluster, physical, "Deployment", name)] = {
                            "tenant": tenant,
                            "namespace": namespace,
                            "replicas": replicas,
                            "image": tenant.image(workload),
                            "uid": uids[("Deployment", name)],
                        }
                        expected[(cluster, physical, "ConfigMap", f"{name}-config")] = {
                            "tenant": tenant,
                            "namespace": namespace,
                            "data": tenant.config(namespace, name, workload),
                            "uid": uids[("ConfigMap", f"{name}-config")],
                        }
        return expected

    async def _check_clusters(self, expected: dict[tuple[str, str, str, str], JSON]) -> None:
        actual: dict[tuple[str, str, str, str], JSON] = {}
        owners = {t.logical: t for t in self.tenants.values()}
        for cluster, direct in self.direct.items():
            for resource in (DEPLOYMENTS, CONFIGMAPS):
                listing = await direct.list(resource, label_selector=f"{MANAGED_LABEL}=true")
                for item in listing["items"]:
                    metadata = item["metadata"]
                    actual[(cluster, metadata["namespace"], resource.kind, metadata["name"])] = item
            namespaces = await direct.list(NAMESPACES, label_selector=f"{MANAGED_LABEL}=true")
            for namespace in namespaces["items"]:
                locator = json.loads(namespace["metadata"]["annotations"][LOCATOR_ANNOTATION])
                owner = owners.get(locator["logicalCluster"])
                assert owner is not None, f"{cluster}: namespace {namespace['metadata']['name']} of no tenant here"
                origin = Locator(locator["logicalCluster"], locator["namespace"], locator["registration"])
                assert origin.physical_namespace == namespace["metadata"]["name"]
                assert REGISTRATIONS_OF[owner.name][locator["registration"]] == cluster, (
                    f"{cluster}: {owner.name}'s namespace for a registration that points elsewhere"
                )
        missing = sorted(set(expected) - set(actual))
        extra = sorted(set(actual) - set(expected))
        assert not missing, f"copies missing: {missing}"
        assert not extra, f"copies nobody's binding calls for: {extra}"
        uids = {}
        for key, want in expected.items():
            _, _, kind, name = key
            copy = actual[key]
            tenant: Tenant = want["tenant"]
            annotations = copy["metadata"]["annotations"]
            marks = (annotations[ORIGIN_CLUSTER], annotations[ORIGIN_NAMESPACE], annotations[ORIGIN_KIND])
            assert marks == (tenant.logical, want["namespace"], kind), f"{key}: origin {marks}"
            assert annotations[ORIGIN_NAME] == name
            assert copy["metadata"]["uid"] == want["uid"], f"{key}: the binding records another object"
            if kind == "Deployment":
                assert copy["spec"]["replicas"] == want["replicas"], key
                assert copy["spec"]["template"]["spec"]["containers"][0]["image"] == want["image"], key
            else:
                assert copy["data"] == want["data"], key
            uids[key] = copy["metadata"]["uid"]
            # A copy wanted before and after a step is the same object: updates are applied in place, and no
            # step of anyone deletes (and so re-creates) a copy that stays wanted.
            if key in self.uids:
                assert self.uids[key] == uids[key], f"{key}: deleted and re-created"
        self.uids = uids


# -- the test ---------------------------------------------------------------------------------------------------


def _next_step(rng: random.Random, tenants: dict[str, Tenant]) -> Step:
    tenant = tenants[rng.choice(TENANTS)]
    namespace, name = rng.choice(NAMESPACES_USED), rng.choice(WORKLOADS)
    present = (namespace, name) in tenant.workloads
    ops = ["update", "update", "delete", "replace"] if present else ["create", "create", "create", "replace"]
    return Step(tenant.name, rng.choice(ops), namespace, name)


async def _run(world: World, rng: random.Random, step: Step) -> None:
    client, tenant = world.client, world.tenants[step.tenant]
    key = (step.namespace, step.name)
    if step.op == "create":
        workload = tenant.workloads[key] = Workload(rng.randint(1, 3), 1)
        step.detail = f"replicas={workload.replicas}"
        body = _configmap(tenant, step.namespace, step.name, workload)
        await client.create(CONFIGMAPS, body, cluster=tenant.path, namespace=step.namespace)
        body = _deployment(tenant, step.namespace, step.name, workload)
        await client.create(DEPLOYMENTS, body, cluster=tenant.path, namespace=step.namespace)
    elif step.op == "update":
        workload = tenant.workloads[key]
        if rng.random() < 0.5:
            workload.replicas = rng.choice([r for r in (1, 2, 3, 4) if r != workload.replicas])
            step.detail = f"replicas={workload.replicas}"
        else:
            workload.version += 1
            step.detail = f"version={workload.version}"
            config = _configmap(tenant, step.namespace, step.name, workload)
            await client.merge_patch(
                CONFIGMAPS,
                config["metadata"]["name"],
                {"data": config["data"]},
                cluster=tenant.path,
                namespace=step.namespace,
            )
        spec = _deployment(tenant, step.namespace, step.name, workload)["spec"]
        await client.merge_patch(DEPLOYMENTS, step.name, {"spec": spec}, cluster=tenant.path, namespace=step.namespace)
    elif step.op == "delete":
        del tenant.workloads[key]
        await client.delete(DEPLOYMENTS, step.name, cluster=tenant.path, namespace=step.namespace)
        await client.delete(CONFIGMAPS, f"{step.name}-config", cluster=tenant.path, namespace=step.namespace)
    else:
        choice = rng.choice([s for s in SELECTORS if s != tenant.selector[step.namespace]])
        tenant.selector[step.namespace] = choice
        step.detail = f"{step.namespace} -> {choice}"
        patched = await client.merge_patch(
            PLACEMENTS,
            PLACEMENT,
            {"spec": {"locationSelector": {k: SELECTORS[choice].get(k) for k in ("matchLabels", "matchExpressions")}}},
            cluster=tenant.path,
            namespace=step.namespace,
        )
        await world.placement_observed(tenant, step.namespace, patched["metadata"]["generation"])
    names = [n for (ns, n) in tenant.workloads if ns == step.namespace] if step.op == "replace" else [step.name]
    for name in names:
        await world.converged(tenant, step.namespace, name)


async def test_random_steps_of_three_tenants_with_identical_names_never_reach_each_other(
    controllers: None, new_tenant: BoundFactory, kcp_client: KubeClient, physical_clusters: ClusterFactory
) -> None:
    started = time.monotonic()
    clusters: dict[str, PhysicalCluster] = {
        name: await physical_clusters(name, NodeSpec.in_region("us-west", count=2)) for name in PHYSICAL
    }
    rng = random.Random(SEED)
    tenants: dict[str, Tenant] = {}
    for name in TENANTS:
        path = await new_tenant(f"iso-{name}")
        for registration, cluster in REGISTRATIONS_OF[name].items():
            spec = ClusterSpec(
                name=registration,
                kubeconfig=clusters[cluster].access.to_kubeconfig_yaml(registration),
                location=registration,
                labels={"pool": registration},
                capabilities=("compute",),
            )
            await register_cluster(kcp_client, path, spec)
        selector = {ns: rng.choice(list(SELECTORS)) for ns in NAMESPACES_USED}
        tenants[name] = Tenant(name, path, await _logical_cluster(kcp_client, path), selector)
        prod = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod"}}
        with contextlib.suppress(ConflictError):
            await kcp_client.create(NAMESPACES, prod, cluster=path)
        for namespace in NAMESPACES_USED:
            body = _placement(namespace, selector[namespace])
            await kcp_client.create(PLACEMENTS, body, cluster=path, namespace=namespace)
    for tenant in tenants.values():
        for registration in ("blue", "green"):
            await wait_for_object(
                kcp_client, REGISTRATIONS, registration, _has("Ready", "True"), cluster=tenant.path, timeout=WAIT
            )
    print(f"\nseed {SEED}: 3 tenants ready after {time.monotonic() - started:.1f}s")

    directs = {name: KubeClient(cluster.access) for name, cluster in clusters.items()}
    world = World(kcp_client, tenants, directs)
    done: list[str] = []
    try:
        await world.check()
        for index in range(STEPS):
            step = _next_step(rng, tenants)
            moment = time.monotonic()
            try:
                await _run(world, rng, step)
                await world.check()
            except (AssertionError, TimeoutError) as failure:
                history = "\n  ".join(done)
                raise AssertionError(
                    f"seed {SEED} (TMC_ISOLATION_SEED={SEED} replays it), step {index + 1}: {step}: {failure}\n"
                    f"steps before:\n  {history}"
                ) from failure
            done.append(f"{step} ({time.monotonic() - moment:.1f}s)")
    finally:
        for direct in directs.values():
            await direct.close()
    print(f"seed {SEED}: {len(done)} steps, {time.monotonic() - started:.1f}s in all\n  " + "\n  ".join(done))
