"""Hostile and broken tenant input on real kcp and a live cluster: each case is a clear error or condition, and a
bystander tenant sharing the cluster (same registration name, same workload names) is untouched by all of it.

One set of servers for the module: one live cluster, the controllers, a bystander tenant whose Deployment
``web`` (with its ConfigMap and Secret) runs on the cluster, and one hostile tenant that registered the same
cluster under the same name. Every case works in a namespace of its own in the hostile tenant, waits (by watch)
for the answer it must get, and then proves: the bystander's objects in kcp and its copies on the cluster are
exactly as before, no credential appeared in a status, an event or a log line, and the controllers logged no
traceback (a hostile input must be a condition, never an exception).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml

from tmc.api import binding_name
from tmc.api.constants import SYNC_FINALIZER
from tmc.controllers.sync.naming import MANAGED_LABEL, ORIGIN_CLUSTER, ORIGIN_NAME, ORIGIN_NAMESPACE, Locator
from tmc.controllers.workloadplacement.bindings import BINDINGS
from tmc.errors import ApiError, ConflictError, NotFoundError
from tmc.install.bind import bind
from tmc.kcp.paths import ROOT, LogicalClusterPath
from tmc.kcp.resources import CONFIGMAPS, DEPLOYMENTS, EVENTS, NAMESPACES, SECRETS, WORKSPACES, Resource
from tmc.kcp.rest import JSON, KubeClient
from tmc.kcp.watching import wait_for_object
from tmc.kcp.workspaces import ensure_workspace
from tmc.local.embedded import register
from tmc.local.nodes import NodeSpec
from tmc.local.physical_cluster import PhysicalCluster

from .conftest import HEARTBEAT, SLACK, ClusterFactory
from .test_cluster_registration_controller import REGISTRATIONS, _condition, _has, _registration
from .test_sync_engine import PLACEMENTS, _applied_everywhere, _dependencies, _deployment, _logical_cluster, _placement
from .test_sync_status import _rolled_out

pytestmark = pytest.mark.e2e

PLACEMENT = _placement({})["metadata"]["name"]  # the seed's Spread placement, as every case places
REPLICA_SETS = Resource("apps", "v1", "replicasets", "ReplicaSet", namespaced=True)
WAIT = 2 * HEARTBEAT + SLACK
INT32_MAX = 2**31 - 1
# A credential the hostile tenant puts into its kubeconfig Secrets: it must never be shown anywhere.
HOSTILE_TOKEN = f"hostile-token-{secrets.token_hex(8)}"


# -- the module's world ---------------------------------------------------------------------------------------


class LogCapture(logging.Handler):
    """Every record the controllers log while the module runs (they run in this process)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text_since(self, index: int) -> str:
        lines = []
        for record in self.records[index:]:
            lines.append(record.getMessage())
            if record.exc_info:
                lines.append(logging.Formatter().formatException(record.exc_info))
        return "\n".join(lines)

    def tracebacks_since(self, index: int) -> list[str]:
        return [
            f"{r.name}: {r.getMessage()}\n{logging.Formatter().formatException(r.exc_info)}"
            for r in self.records[index:]
            if r.exc_info and r.name.startswith("tmc")
        ]


@dataclass
class Bystander:
    """The tenant that does nothing wrong: its state is taken once and compared after every case."""

    tenant: LogicalClusterPath
    logical: str
    namespace: str  # its physical namespace on the shared cluster
    before: JSON = field(default_factory=dict)


@dataclass
class World:
    client: KubeClient
    direct: KubeClient  # the shared cluster, as its admin
    cluster: PhysicalCluster
    hostile: LogicalClusterPath
    hostile_logical: str
    bystander: Bystander
    logs: LogCapture
    kube_system: JSON = field(default_factory=dict)

    def physical_namespace(self, namespace: str, registration: str = "shared") -> str:
        return Locator(self.hostile_logical, namespace, registration).physical_namespace


async def _workspace(client: KubeClient, prefix: str) -> LogicalClusterPath:
    path = ROOT.join(f"e2e-{prefix}-{secrets.token_hex(4)}")
    await ensure_workspace(client, path)
    await bind(client, path)
    return path


async def _bystander_state(world: World) -> JSON:
    """What must not change: the bystander's workload, binding, registrations and events in kcp, its copies."""
    client, by = world.client, world.bystander
    deployment = await client.get(DEPLOYMENTS, "web", cluster=by.tenant, namespace="default")
    binding = await client.get(BINDINGS, "deployment-web", cluster=by.tenant, namespace="default")
    status = deployment.get("status", {})
    registrations = await client.list(REGISTRATIONS, cluster=by.tenant)
    events = await client.list(EVENTS, cluster=by.tenant, namespace="default")
    copies = {}
    for resource in (DEPLOYMENTS, CONFIGMAPS, SECRETS):
        listing = await world.direct.list(resource, namespace=by.namespace)
        for item in listing["items"]:
            metadata = item["metadata"]
            if MANAGED_LABEL not in (metadata.get("labels") or {}):
                continue  # what the cluster puts in every namespace (kube-root-ca.crt), on its own schedule
            copies[f"{resource.kind}/{metadata['name']}"] = {
                "uid": metadata["uid"],
                "generation": metadata.get("generation"),
                "annotations": metadata.get("annotations"),
                "labels": metadata.get("labels"),
                "spec": item.get("spec"),
                "data": item.get("data"),
            }
    return {
        "workload": {
            "uid": deployment["metadata"]["uid"],
            "generation": deployment["metadata"]["generation"],
            "finalizers": deployment["metadata"].get("finalizers"),
            "spec": deployment["spec"],
            "counts": {k: status.get(k) for k in ("observedGeneration", "replicas", "readyReplicas")},
            "conditions": {c["type"]: (c["status"], c["reason"]) for c in status.get("conditions", [])},
        },
        "binding": {
            "spec": binding["spec"],
            "clusters": [
                {k: e.get(k) for k in ("name", "namespace", "applied", "reason", "health", "readyReplicas", "objects")}
                for e in binding["status"]["clusters"]
            ],
            "applied": _condition(binding, "Applied").get("status"),
        },
        "registrations": {r["metadata"]["name"]: _condition(r, "Ready").get("status") for r in registrations["items"]},
        "events": sorted((e["reason"], e["involvedObject"]["name"], e["message"]) for e in events["items"]),
        "copies": copies,
    }


async def _kube_system(direct: KubeClient) -> JSON:
    """Names and uids of what the cluster itself keeps in kube-system (and whether TMC marked any of it)."""
    state = {}
    for resource in (DEPLOYMENTS, CONFIGMAPS, SECRETS):
        for item in (await direct.list(resource, namespace="kube-system"))["items"]:
            metadata = item["metadata"]
            state[f"{resource.kind}/{metadata['name']}"] = (
                metadata["uid"],
                MANAGED_LABEL in (metadata.get("labels") or {}),
            )
    return state


@pytest.fixture(scope="module")
async def world(controllers: None, kcp_client: KubeClient, physical_clusters: ClusterFactory) -> AsyncIterator[World]:
    logs = LogCapture()
    root = logging.getLogger()
    level = root.level
    root.addHandler(logs)
    root.setLevel(logging.INFO)
    httpx_logger = logging.getLogger("httpx")
    httpx_level = httpx_logger.level
    httpx_logger.setLevel(logging.WARNING)  # one line per request, as `tmc controller` configures it too
    cluster = await physical_clusters("hostile-shared", NodeSpec.in_region("us-west", count=2))
    bystander = await _workspace(kcp_client, "bystander")
    hostile = await _workspace(kcp_client, "hostile")
    await register(kcp_client, bystander, "shared", cluster, "us-west")
    await register(kcp_client, bystander, "bystander-only", cluster, "elsewhere")
    await register(kcp_client, hostile, "shared", cluster, "us-west")
    for tenant, name in ((bystander, "shared"), (bystander, "bystander-only"), (hostile, "shared")):
        await wait_for_object(kcp_client, REGISTRATIONS, name, _has("Ready", "True"), cluster=tenant, timeout=WAIT)
    for resource, body in _dependencies("web"):
        await kcp_client.create(resource, body, cluster=bystander, namespace="default")
    await kcp_client.create(PLACEMENTS, _placement({"tier": "web"}), cluster=bystander, namespace="default")
    await kcp_client.create(DEPLOYMENTS, _deployment("web", 2), cluster=bystander, namespace="default")
    await wait_for_object(
        kcp_client, DEPLOYMENTS, "web", _settled(2), cluster=bystander, namespace="default", timeout=60
    )
    await wait_for_object(
        kcp_client, BINDINGS, "deployment-web", _applied_everywhere, cluster=bystander, namespace="default"
    )
    logical = await _logical_cluster(kcp_client, bystander)
    async with KubeClient(cluster.access) as direct:
        state = World(
            client=kcp_client,
            direct=direct,
            cluster=cluster,
            hostile=hostile,
            hostile_logical=await _logical_cluster(kcp_client, hostile),
            bystander=Bystander(bystander, logical, Locator(logical, "default", "shared").physical_namespace),
            logs=logs,
        )
        state.bystander.before = await _bystander_state(state)
        assert set(state.bystander.before["copies"]) == {"Deployment/web", "ConfigMap/web-config", "Secret/web-secret"}
        state.kube_system = await _kube_system(direct)
        yield state
    root.removeHandler(logs)
    root.setLevel(level)
    httpx_logger.setLevel(httpx_level)
    for tenant in (hostile, bystander):
        with contextlib.suppress(NotFoundError):
            await kcp_client.delete(WORKSPACES, tenant.base_name, cluster=ROOT)


def _settled(replicas: int) -> Callable[[JSON], bool]:
    """Rolled out, and the conditions say so too (nothing about the bystander is still moving)."""
    rolled_out = _rolled_out(replicas)

    def check(deployment: JSON) -> bool:
        conditions = {c["type"]: c for c in deployment.get("status", {}).get("conditions", [])}
        progressing = conditions.get("Progressing", {}).get("reason")
        available = conditions.get("Available", {}).get("status")
        return bool(rolled_out(deployment) and progressing == "NewReplicaSetAvailable" and available == "True")

    return check


# -- builders -------------------------------------------------------------------------------------------------


def _plain_deployment(name: str, replicas: int, namespace: str, *, labels: dict[str, str] | None = None) -> JSON:
    """A Deployment that references nothing (no ConfigMap, no Secret), labelled ``tier: web``."""
    labels = {"tier": "web", **(labels or {})}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "hostile"}},
            "template": {
                "metadata": {"labels": {"app": "hostile"}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
            },
        },
    }


async def _namespace(world: World, name: str) -> str:
    with contextlib.suppress(ConflictError):  # kcp may have it (kube-system) in every workspace
        await world.client.create(
            NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}, cluster=world.hostile
        )
    return name


async def _place(world: World, namespace: str, placement: JSON | None = None) -> None:
    """The seed's Spread placement (region us-west, compute required) over ``tier: web`` in ``namespace``."""
    await _namespace(world, namespace)
    body = placement or _placement({"tier": "web"}, namespace)
    body["metadata"]["namespace"] = namespace
    await world.client.create(PLACEMENTS, body, cluster=world.hostile, namespace=namespace)


async def _create(world: World, resource: Resource, body: JSON) -> JSON:
    return await world.client.create(resource, body, cluster=world.hostile, namespace=body["metadata"]["namespace"])


async def _refused(world: World, deployment: JSON) -> ApiError | None:
    """kcp's refusal of the Deployment, or None when kcp stores it (its schema is what kube's OpenAPI says)."""
    try:
        await _create(world, DEPLOYMENTS, deployment)
    except ApiError as refusal:
        return refusal
    return None


async def _binding(world: World, namespace: str, name: str, predicate: Callable[[JSON], bool]) -> JSON:
    return await wait_for_object(
        world.client, BINDINGS, name, predicate, cluster=world.hostile, namespace=namespace, timeout=WAIT
    )


async def _scheduled(world: World, namespace: str, status: str, reason: str) -> JSON:
    placement = await wait_for_object(
        world.client,
        PLACEMENTS,
        PLACEMENT,
        _has("Scheduled", status, reason),
        cluster=world.hostile,
        namespace=namespace,
        timeout=WAIT,
    )
    return _condition(placement, "Scheduled")


def _entry(binding: JSON, cluster: str = "shared") -> JSON:
    entries = {e["name"]: e for e in binding.get("status", {}).get("clusters", [])}
    return dict(entries.get(cluster, {}))


def _entry_is(reason: str, cluster: str = "shared") -> Callable[[JSON], bool]:
    def check(binding: JSON) -> bool:
        entry = _entry(binding, cluster)
        return bool(entry.get("reason") == reason and binding["status"].get("observedGeneration"))

    return check


async def _on_cluster(world: World, resource: Resource, name: str, namespace: str) -> JSON | None:
    try:
        return await world.direct.get(resource, name, namespace=namespace)
    except NotFoundError:
        return None


# -- the cases ------------------------------------------------------------------------------------------------
# Each takes the world and a namespace of its own in the hostile tenant.


async def names_and_labels_at_their_length_limits(world: World, ns: str) -> None:
    name = "w" + "x" * 252  # 253: a DNS subdomain's limit
    config = "c" * 253
    label = "v" * 63  # a label value's limit
    placement = _placement({"tier": label}, ns)
    placement["metadata"]["name"] = "p" * 253
    await _place(world, ns, placement)
    await _create(
        world,
        CONFIGMAPS,
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": config, "namespace": ns}, "data": {"k": "v"}},
    )
    deployment = _plain_deployment(name, 1, ns, labels={"tier": label})
    deployment["spec"]["template"]["spec"]["volumes"] = [{"name": "c", "configMap": {"name": config}}]
    await _create(world, DEPLOYMENTS, deployment)
    binding = await _binding(world, ns, binding_name("Deployment", name), _applied_everywhere)
    assert len(binding["metadata"]["name"]) <= 253
    physical = world.physical_namespace(ns)
    assert await _on_cluster(world, DEPLOYMENTS, name, physical) is not None
    assert await _on_cluster(world, CONFIGMAPS, config, physical) is not None
    events = await world.client.list(EVENTS, cluster=world.hostile, namespace=ns)
    reasons = {e["reason"] for e in events["items"] if e["involvedObject"]["name"] == name}
    assert {"Placed", "Synced"} <= reasons, f"the tenant is told where its workload went: {reasons}"


async def objects_at_the_size_limit(world: World, ns: str) -> None:
    await _place(world, ns)
    mebibyte = 1024 * 1024
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "big", "namespace": ns},
        "data": {"blob": "x" * (mebibyte - len("blob"))},  # a ConfigMap's limit: 1 MiB of keys and values
    }
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "big", "namespace": ns},
        "data": {"blob": base64.b64encode(b"y" * (mebibyte - len("blob"))).decode()},
    }
    await _create(world, CONFIGMAPS, config)
    await _create(world, SECRETS, secret)
    deployment = _plain_deployment("big", 1, ns)
    deployment["spec"]["template"]["spec"]["volumes"] = [
        {"name": "c", "configMap": {"name": "big"}},
        {"name": "s", "secret": {"secretName": "big"}},
    ]
    await _create(world, DEPLOYMENTS, deployment)
    await _binding(world, ns, "deployment-big", _applied_everywhere)
    physical = world.physical_namespace(ns)
    copied_config = await _on_cluster(world, CONFIGMAPS, "big", physical)
    copied_secret = await _on_cluster(world, SECRETS, "big", physical)
    assert copied_config is not None
    assert copied_config["data"] == config["data"]
    assert copied_secret is not None
    assert copied_secret["data"] == secret["data"]


async def annotations_that_pass_kcp_but_not_the_cluster_once_marked(world: World, ns: str) -> None:
    """kcp holds the tenant's 256 KiB of annotations; TMC's origin annotations push the copy past the limit."""
    await _place(world, ns)
    fat = _plain_deployment("fat", 1, ns)
    fat["metadata"]["annotations"] = {"example.com/blob": "a" * (256 * 1024 - 200)}
    await _create(world, DEPLOYMENTS, fat)
    await _create(world, DEPLOYMENTS, _plain_deployment("slim", 1, ns))
    binding = await _binding(world, ns, "deployment-fat", _entry_is("Rejected"))
    entry = _entry(binding)
    assert entry["applied"] is False
    assert "metadata.annotations" in entry["message"], entry["message"]
    assert (_condition(binding, "Applied")["status"], _condition(binding, "Applied")["reason"]) == (
        "False",
        "Rejected",
    )
    # One refused workload holds back nothing else of the tenant.
    await _binding(world, ns, "deployment-slim", _applied_everywhere)


async def a_workload_selector_that_matches_nothing(world: World, ns: str) -> None:
    await _place(world, ns, _placement({"app": "no-such-workload"}, ns))
    await _create(world, DEPLOYMENTS, _plain_deployment("unselected", 1, ns))
    scheduled = await _scheduled(world, ns, "True", "NoWorkloads")
    assert "spec.workloadSelector" in scheduled["message"]
    with pytest.raises(NotFoundError):
        await world.client.get(BINDINGS, "deployment-unselected", cluster=world.hostile, namespace=ns)


async def a_location_selector_that_matches_no_cluster(world: World, ns: str) -> None:
    placement = _placement({"tier": "web"}, ns)
    placement["spec"]["locationSelector"] = {"matchLabels": {"region": "mars"}}
    await _place(world, ns, placement)
    await _create(world, DEPLOYMENTS, _plain_deployment("nowhere", 1, ns))
    scheduled = await _scheduled(world, ns, "False", "NoEligibleClusters")
    assert "spec.locationSelector" in scheduled["message"], scheduled["message"]
    binding = await _binding(
        world, ns, "deployment-nowhere", lambda b: _condition(b, "Applied").get("reason") == "NotPlaced"
    )
    assert binding["spec"]["clusters"] == []
    assert await _on_cluster(world, NAMESPACES, world.physical_namespace(ns), "") is None


async def zero_replicas(world: World, ns: str) -> None:
    await _place(world, ns)
    await _create(world, DEPLOYMENTS, _plain_deployment("idle", 0, ns))
    binding = await _binding(world, ns, "deployment-idle", _applied_everywhere)
    assert binding["spec"]["clusters"] == [{"name": "shared", "replicas": 0}]
    copy = await _on_cluster(world, DEPLOYMENTS, "idle", world.physical_namespace(ns))
    assert copy is not None
    assert copy["spec"]["replicas"] == 0

    def settled(deployment: JSON) -> bool:
        status = deployment.get("status", {})
        return bool(
            status.get("observedGeneration") == deployment["metadata"]["generation"] and not status.get("replicas")
        )

    await wait_for_object(world.client, DEPLOYMENTS, "idle", settled, cluster=world.hostile, namespace=ns, timeout=WAIT)


async def negative_replicas(world: World, ns: str) -> None:
    """kcp stores what the schema allows; a negative count must be the tenant's error, not the controller's."""
    await _place(world, ns)
    await _create(world, DEPLOYMENTS, _plain_deployment("sibling", 1, ns))
    refused = await _refused(world, _plain_deployment("negative", -1, ns))
    if refused is not None:
        print(f"\nkcp refuses it: {refused.message}")
        assert "spec.replicas" in refused.message, refused.message
    else:
        scheduled = await _scheduled(world, ns, "False", "PartiallyScheduled")
        assert "negative" in scheduled["message"], scheduled["message"]
        assert "spec.replicas" in scheduled["message"], scheduled["message"]
    # The other workload of the same placement is placed all the same.
    await _binding(world, ns, "deployment-sibling", _applied_everywhere)


async def replicas_past_int32(world: World, ns: str) -> None:
    await _place(world, ns)
    await _create(world, DEPLOYMENTS, _plain_deployment("sibling", 1, ns))
    refused = await _refused(world, _plain_deployment("huge", INT32_MAX + 1, ns))
    if refused is not None:
        print(f"\nkcp refuses it: {refused.message}")
        assert "spec.replicas" in refused.message, refused.message
    else:
        binding = await _binding(world, ns, "deployment-huge", _entry_is("Rejected"))
        assert "spec.replicas" in _entry(binding)["message"], _entry(binding)["message"]
    await _binding(world, ns, "deployment-sibling", _applied_everywhere)


async def the_largest_replica_count_paused(world: World, ns: str) -> None:
    """int32's maximum is valid everywhere; paused, so the cluster creates no ReplicaSet (and no pods) for it."""
    await _place(world, ns)
    huge = _plain_deployment("max", INT32_MAX, ns)
    huge["spec"]["paused"] = True
    await _create(world, DEPLOYMENTS, huge)
    binding = await _binding(world, ns, "deployment-max", _applied_everywhere)
    assert binding["spec"]["clusters"] == [{"name": "shared", "replicas": INT32_MAX}]
    physical = world.physical_namespace(ns)
    copy = await _on_cluster(world, DEPLOYMENTS, "max", physical)
    assert copy is not None
    assert copy["spec"]["replicas"] == INT32_MAX

    def reported(deployment: JSON) -> bool:
        return bool(deployment.get("status", {}).get("observedGeneration") == deployment["metadata"]["generation"])

    await wait_for_object(world.client, DEPLOYMENTS, "max", reported, cluster=world.hostile, namespace=ns, timeout=WAIT)
    assert (await world.direct.list(REPLICA_SETS, namespace=physical))["items"] == []


async def references_to_secrets_and_configmaps_that_do_not_exist(world: World, ns: str) -> None:
    await _place(world, ns)
    await _create(world, DEPLOYMENTS, {**_deployment("orphan", 1, namespace=ns)})  # wants orphan-secret, -config
    binding = await _binding(world, ns, "deployment-orphan", _entry_is("DependencyMissing"))
    message = _entry(binding)["message"]
    assert "ConfigMap orphan-config" in message, message
    assert "Secret orphan-secret" in message, message
    assert _condition(binding, "Applied")["reason"] == "DependencyMissing"
    physical = world.physical_namespace(ns)
    assert await _on_cluster(world, DEPLOYMENTS, "orphan", physical) is not None
    # Once the tenant creates them they follow, without anyone touching the workload.
    for resource, body in _dependencies("orphan", ns):
        await world.client.create(resource, body, cluster=world.hostile, namespace=ns)
    await _binding(world, ns, "deployment-orphan", _entry_is("Applied"))
    assert await _on_cluster(world, SECRETS, "orphan-secret", physical) is not None
    assert await _on_cluster(world, CONFIGMAPS, "orphan-config", physical) is not None


def _kubeconfig(world: World, **changes: Any) -> str:
    config = world.cluster.access.to_kubeconfig("garbage")
    config["users"][0]["user"] = {"token": HOSTILE_TOKEN}
    for path, value in changes.items():
        section, key = path.split("__")
        config[section][0][section[:-1]][key.replace("_", "-")] = value
    return yaml.safe_dump(config)


# (registration, the Secret's kubeconfig bytes or None for no such key, reason, what the message names)
def _garbage(world: World) -> list[tuple[str, bytes | None, str, str]]:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
    )
    return [
        ("binary", b"\xff\xfe\x00\x01" + HOSTILE_TOKEN.encode(), "InvalidKubeconfig", "not base64-encoded text"),
        ("not-yaml", f"{{{{ token: {HOSTILE_TOKEN}".encode(), "InvalidKubeconfig", "not valid YAML"),
        ("a-list", f"- {HOSTILE_TOKEN}".encode(), "InvalidKubeconfig", "expected a kubeconfig"),
        ("alias-bomb", bomb.encode(), "FieldNotAllowed", "field a"),
        ("no-key", None, "KubeconfigKeyMissing", "'kubeconfig'"),
        (
            "ca-not-pem",
            _kubeconfig(world, clusters__certificate_authority_data=base64.b64encode(b"garbage").decode()).encode(),
            "InvalidKubeconfig",
            "clusters[0].cluster.certificate-authority-data",
        ),
        (
            "cert-not-pem",
            _kubeconfig(
                world,
                users__client_certificate_data=base64.b64encode(b"cert").decode(),
                users__client_key_data=base64.b64encode(HOSTILE_TOKEN.encode()).decode(),
            ).encode(),
            "InvalidKubeconfig",
            "users[0].user.client-certificate-data",
        ),
        (
            "server-not-idna",
            _kubeconfig(world, clusters__server="https://\u2603.example:6443").encode(),
            "InvalidServer",
            "clusters[0].cluster.server",
        ),
        (
            "token-with-newline",
            _kubeconfig(world, users__token=f"{HOSTILE_TOKEN}\nInjected: header").encode(),
            "InvalidKubeconfig",
            "users[0].user.token",
        ),
    ]


async def kubeconfig_secrets_with_garbage(world: World, ns: str) -> None:
    cases = _garbage(world)
    for name, text, _, _ in cases:
        data = {} if text is None else {"kubeconfig": base64.b64encode(text).decode()}
        secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "default"}}
        await world.client.create(SECRETS, {**secret, "data": data}, cluster=world.hostile, namespace="default")
        registration = _registration(name, name)
        registration["metadata"]["labels"] = {"region": "us-west"}  # eligible for the case's placement if Ready
        await world.client.create(REGISTRATIONS, registration, cluster=world.hostile)
    # A workload placed while those registrations exist still goes to the one usable cluster.
    placement = _placement({"tier": "web"}, ns)
    placement["spec"]["numberOfClusters"] = {"min": 1, "max": 10}
    await _place(world, ns, placement)
    await _create(world, DEPLOYMENTS, _plain_deployment("amid-garbage", 1, ns))
    for name, _, reason, named in cases:
        refused = await wait_for_object(
            world.client,
            REGISTRATIONS,
            name,
            _has("CredentialsValid", "False", reason),
            cluster=world.hostile,
            timeout=WAIT,
        )
        assert named in _condition(refused, "CredentialsValid")["message"], (name, refused["status"])
        assert _condition(refused, "Ready")["status"] == "False"
        assert HOSTILE_TOKEN not in json.dumps(refused)
    binding = await _binding(world, ns, "deployment-amid-garbage", _applied_everywhere)
    assert [c["name"] for c in binding["spec"]["clusters"]] == ["shared"]
    shared = await world.client.get(REGISTRATIONS, "shared", cluster=world.hostile)
    assert _condition(shared, "Ready")["status"] == "True"


async def placing_onto_another_tenants_registration_by_name(world: World, ns: str) -> None:
    """The hostile tenant names ``bystander-only``, which exists only in the bystander's workspace: by a static
    weight, by a binding it writes itself, and by a forged binding status aimed at the bystander's namespace."""
    placement = _placement({"tier": "web"}, ns)
    placement["spec"]["numberOfClusters"] = {"min": 1, "max": 5}
    placement["spec"]["replicaDivision"] = {
        "weighting": "Static",
        "staticWeights": [{"clusterName": "bystander-only", "weight": 1000}, {"clusterName": "shared", "weight": 1}],
    }
    await _place(world, ns, placement)
    await _create(world, DEPLOYMENTS, _plain_deployment("probe", 4, ns))
    binding = await _binding(world, ns, "deployment-probe", _applied_everywhere)
    assert [c["name"] for c in binding["spec"]["clusters"]] == ["shared"]

    handmade = {
        "apiVersion": "tmc.kcp.io/v1alpha1",
        "kind": "WorkloadBinding",
        "metadata": {"name": "deployment-stowaway", "namespace": ns, "finalizers": [SYNC_FINALIZER]},
        "spec": {
            "workload": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": ns, "name": "stowaway"},
            "placement": "none",
            "clusters": [{"name": "bystander-only", "replicas": 1}],
        },
    }
    stowaway = _plain_deployment("stowaway", 1, ns, labels={"tier": "unplaced"})
    await _create(world, DEPLOYMENTS, stowaway)
    await _create(world, BINDINGS, handmade)
    refused = await _binding(world, ns, "deployment-stowaway", _entry_is("RegistrationNotFound", "bystander-only"))
    assert "bystander-only" in _entry(refused, "bystander-only")["message"]
    assert await _on_cluster(world, NAMESPACES, world.physical_namespace(ns, "bystander-only"), "") is None

    # A binding of a workload that does not exist, whose status (the tenant can write it) records the bystander's
    # copies in the bystander's namespace: the engine cleans up what is recorded, in this binding's namespace only.
    ghost = json.loads(json.dumps(handmade))
    ghost["metadata"]["name"] = "deployment-ghost"
    ghost["spec"]["workload"]["name"] = "ghost"
    ghost["spec"]["clusters"] = []
    await _create(world, BINDINGS, ghost)
    # Once the engine has written its first status, the forged one goes in; then wait for the engine's answer to it.
    await _binding(world, ns, "deployment-ghost", lambda b: bool(b.get("status", {}).get("conditions")))
    forged = {
        "name": "shared",
        "namespace": world.bystander.namespace,
        "applied": True,
        "reason": "Applied",
        "objects": [
            {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "web-config"},
            {"apiVersion": "v1", "kind": "Secret", "name": "web-secret"},
        ],
    }
    patched = await world.client.merge_patch(
        BINDINGS,
        "deployment-ghost",
        {"status": {"clusters": [forged]}},
        cluster=world.hostile,
        namespace=ns,
        subresource="status",
    )
    assert patched["status"]["clusters"][0]["namespace"] == world.bystander.namespace

    def cleaned(binding: JSON) -> bool:
        later = binding["metadata"]["resourceVersion"] != patched["metadata"]["resourceVersion"]
        return later and not binding.get("status", {}).get("clusters")

    await _binding(world, ns, "deployment-ghost", cleaned)


async def kube_system_and_other_tenants_namespace_names(world: World, ns: str) -> None:
    """Tenant namespaces named ``kube-system`` and like the bystander's physical namespace, a workload named
    ``coredns`` using the names every cluster provides, and origin annotations copied from the bystander."""
    await _place(world, "kube-system")
    await _create(
        world,
        CONFIGMAPS,
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "coredns", "namespace": "kube-system"}},
    )
    coredns = _plain_deployment("coredns", 1, "kube-system")
    coredns["spec"]["template"]["spec"].update(
        serviceAccountName="default",
        volumes=[
            {"name": "config", "configMap": {"name": "coredns"}},
            {"name": "ca", "configMap": {"name": "kube-root-ca.crt"}},
        ],
    )
    await _create(world, DEPLOYMENTS, coredns)

    squatted = world.bystander.namespace  # a tenant namespace named like the bystander's namespace on the cluster
    await _place(world, squatted)
    spoof = _plain_deployment("web", 5, squatted)
    spoof["metadata"]["annotations"] = {
        ORIGIN_CLUSTER: world.bystander.logical,
        ORIGIN_NAMESPACE: "default",
        ORIGIN_NAME: "web",
        "tmc.kcp.io/conflict-resolution": "Overwrite",
        "tmc.kcp.io/locator": json.dumps({"logicalCluster": world.bystander.logical, "namespace": "default"}),
    }
    await _create(world, DEPLOYMENTS, spoof)

    for namespace, name in (("kube-system", "coredns"), (squatted, "web")):
        binding = await _binding(world, namespace, f"deployment-{name}", _applied_everywhere)
        physical = world.physical_namespace(namespace)
        assert _entry(binding)["namespace"] == physical
        assert physical not in ("kube-system", world.bystander.namespace)
        copy = await _on_cluster(world, DEPLOYMENTS, name, physical)
        assert copy is not None
        annotations = copy["metadata"]["annotations"]
        assert (annotations[ORIGIN_CLUSTER], annotations[ORIGIN_NAMESPACE]) == (world.hostile_logical, namespace)
        assert "tmc.kcp.io/locator" not in annotations
    coredns_binding = await world.client.get(
        BINDINGS, "deployment-coredns", cluster=world.hostile, namespace="kube-system"
    )
    objects = {(o["kind"], o["name"]) for o in _entry(coredns_binding)["objects"]}
    # The names every cluster provides itself (ServiceAccount default, ConfigMap kube-root-ca.crt) are not copied.
    assert objects == {("ConfigMap", "coredns"), ("Deployment", "coredns")}, coredns_binding["status"]
    assert await _kube_system(world.direct) == world.kube_system, "the cluster's kube-system is untouched"


CASES: list[Callable[[World, str], Awaitable[None]]] = [
    names_and_labels_at_their_length_limits,
    objects_at_the_size_limit,
    annotations_that_pass_kcp_but_not_the_cluster_once_marked,
    a_workload_selector_that_matches_nothing,
    a_location_selector_that_matches_no_cluster,
    zero_replicas,
    negative_replicas,
    replicas_past_int32,
    the_largest_replica_count_paused,
    references_to_secrets_and_configmaps_that_do_not_exist,
    kubeconfig_secrets_with_garbage,
    placing_onto_another_tenants_registration_by_name,
    kube_system_and_other_tenants_namespace_names,
]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__.replace("_", "-") for c in CASES])
async def test_hostile_input_is_a_clear_answer_and_the_bystander_is_untouched(
    world: World, case: Callable[[World, str], Awaitable[None]]
) -> None:
    mark = len(world.logs.records)
    started = time.monotonic()
    await case(world, await _namespace(world, f"case-{CASES.index(case)}"))
    print(f"\n{case.__name__}: answered in {time.monotonic() - started:.1f}s")

    assert await _bystander_state(world) == world.bystander.before
    logged = world.logs.text_since(mark)
    assert HOSTILE_TOKEN not in logged
    assert world.cluster.access.token
    assert world.cluster.access.token not in logged
    assert world.logs.tracebacks_since(mark) == []
    for namespace in (await world.client.list(NAMESPACES, cluster=world.hostile))["items"]:
        events = await world.client.list(EVENTS, cluster=world.hostile, namespace=namespace["metadata"]["name"])
        assert HOSTILE_TOKEN not in json.dumps(events)
