"""deploy/ against real servers: the manifests on a live kube-apiserver, the kcp RBAC and the Deployment's command.

1. ``kubectl kustomize deploy/overlays/example`` passes a server-side dry-run (strict field validation) on a
   live kube-apiserver, and the Deployment's pod passes the namespace's Pod Security level (``restricted``).
2. ``deploy/kcp-rbac`` applied to a real kcp makes a plain token user (no admin group) TMC's identity: refused
   before, admitted after. Two replicas then run the Deployment's container command, arguments and
   environment as written, substituting only what Kubernetes supplies per pod (the pod name from the downward
   API, the Secret's mount path) and the port (this machine is shared). Proven: both Ready, one leads under its
   pod name, a registration at a loopback address is refused by the default address policy (and says so),
   ``/metrics`` serves exactly the metrics ``docs/operations.md`` documents, every log line is JSON, nothing
   was forbidden.
3. The same command plus ``--allow-cluster-cidr=127.0.0.0/8`` (the local cluster listens on loopback) syncs a
   Deployment onto a real cluster as that identity and undoes an edit of the copy: the RBAC covers the whole
   path; the sync metrics count it and the drift's log line carries workspace, key and cluster.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.manifests import deployment
from tests.unit.api.helpers import seed_example
from tmc.api import CLUSTER_REGISTRATION, WORKLOAD_PLACEMENT
from tmc.clusters import ADDRESS_NOT_ALLOWED
from tmc.controllers.metrics_catalog import base_names
from tmc.controllers.run import LEASE_NAME, LEASE_NAMESPACE
from tmc.controllers.sync.naming import Locator
from tmc.errors import ForbiddenError
from tmc.install.bind import bind
from tmc.install.desired import TMC_WORKSPACE
from tmc.install.install import install
from tmc.kcp.paths import ROOT, LogicalClusterPath
from tmc.kcp.resources import API_EXPORTS, DEPLOYMENTS, LEASES, Resource, resource_of
from tmc.kcp.rest import APPLY_PATCH, KubeClient
from tmc.kcp.watching import wait_for_object
from tmc.kcp.workspaces import ensure_workspace
from tmc.local.embedded import register
from tmc.local.kcp_server import KcpServer
from tmc.local.ports import free_port
from tmc.local.process import ManagedProcess, tail
from tmc.local.readiness import wait_until

from .conftest import SLACK, ClusterFactory

pytestmark = pytest.mark.e2e

ROOT_DIR = Path(__file__).resolve().parents[2]
DEPLOY = ROOT_DIR / "deploy"
IDENTITY_USER = "tmc-controller"  # the subject deploy/kcp-rbac grants
PODS = ("tmc-controller-6f9c8d7b5-k2x4q", "tmc-controller-6f9c8d7b5-w8r7n")
REGISTRATIONS = resource_of(CLUSTER_REGISTRATION)
PLACEMENTS = resource_of(WORKLOAD_PLACEMENT)
LEASE_DURATION = 15.0  # the Deployment does not change the default
KINDS = {
    "Namespace": Resource("", "v1", "namespaces", "Namespace", namespaced=False),
    "ServiceAccount": Resource("", "v1", "serviceaccounts", "ServiceAccount", namespaced=True),
    "Secret": Resource("", "v1", "secrets", "Secret", namespaced=True),
    "Service": Resource("", "v1", "services", "Service", namespaced=True),
    "Pod": Resource("", "v1", "pods", "Pod", namespaced=True),
    "Deployment": DEPLOYMENTS,
    "PodDisruptionBudget": Resource("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", namespaced=True),
    "ClusterRole": Resource("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", namespaced=False),
    "ClusterRoleBinding": Resource(
        "rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", namespaced=False
    ),
    "Role": Resource("rbac.authorization.k8s.io", "v1", "roles", "Role", namespaced=True),
    "RoleBinding": Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", namespaced=True),
}
JSON = dict[str, Any]


async def apply(
    client: KubeClient, doc: JSON, *, cluster: LogicalClusterPath | None = None, dry_run: bool = False
) -> JSON:
    """Server-side apply with strict field validation (a field the server does not know is an error)."""
    resource = KINDS[doc["kind"]]
    metadata = doc["metadata"]
    params: dict[str, str | int | bool] = {"fieldManager": "tmc-e2e", "force": True, "fieldValidation": "Strict"}
    if dry_run:
        params["dryRun"] = "All"
    path = resource.path(cluster, namespace=metadata.get("namespace"), name=metadata["name"])
    return await client.request("PATCH", path, params=params, body=doc, content_type=APPLY_PATCH)


async def kustomize(directory: Path) -> list[JSON]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (with its built-in kustomize) is not installed")
    process = await asyncio.create_subprocess_exec(
        kubectl, "kustomize", str(directory), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return [doc for doc in yaml.safe_load_all(out) if doc]


def container(deployment: JSON) -> JSON:
    containers: list[JSON] = deployment["spec"]["template"]["spec"]["containers"]
    return containers[0]


# -- 1. the manifests on a live kube-apiserver ---------------------------------------------------------------


async def test_the_rendered_manifests_pass_a_server_side_dry_run_and_the_pod_meets_pod_security(
    physical_clusters: ClusterFactory,
) -> None:
    docs = await kustomize(DEPLOY / "overlays" / "example")
    assert sorted(d["kind"] for d in docs) == [
        "Deployment",
        "Namespace",
        "PodDisruptionBudget",
        "Secret",
        "Service",
        "ServiceAccount",
    ]
    base = yaml.safe_load((DEPLOY / "base" / "deployment.yaml").read_text())
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    rendered, written = container(deployment), container(base)
    for field in ("command", "args", "env"):
        assert rendered[field] == written[field], f"the overlay changed the container's {field}"
    cluster = await physical_clusters("deploy-dry-run")
    async with KubeClient(cluster.access) as client:
        # Real: the namespace and the ServiceAccount the pod's admission looks up. Everything else: dry-run only.
        for doc in docs:
            if doc["kind"] in ("Namespace", "ServiceAccount"):
                await apply(client, doc)
        for doc in docs:
            if doc["kind"] not in ("Namespace", "ServiceAccount"):
                answer = await apply(client, doc, dry_run=True)
                assert (answer["kind"], answer["metadata"]["name"]) == (doc["kind"], doc["metadata"]["name"])
        template = deployment["spec"]["template"]
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {**template["metadata"], "name": "tmc-controller-dry-run", "namespace": "tmc-system"},
            "spec": template["spec"],
        }
        # The namespace enforces Pod Security "restricted": a pod breaking it is refused at admission.
        answer = await apply(client, pod, dry_run=True)
        assert answer["spec"]["securityContext"]["runAsNonRoot"] is True
        violating = {**pod, "spec": {**pod["spec"], "securityContext": {}}}
        violating["spec"]["containers"] = [{**container(deployment), "securityContext": {}}]
        with pytest.raises(ForbiddenError, match="violates PodSecurity"):
            await apply(client, violating, dry_run=True)


# -- 2. and 3. the kcp RBAC and the Deployment's command against a real kcp ---------------------------------


@pytest.fixture(scope="module")
async def kcp_with_identity(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[KcpServer]:
    """A kcp of its own: the shared one has no token user for TMC's identity."""
    server = KcpServer(tmp_path_factory.mktemp("kcp-deploy"), users=(IDENTITY_USER,))
    await server.start()
    yield server
    await server.stop()


class Replica:
    """One pod of the Deployment, as a local process: the container's command, arguments and environment."""

    def __init__(self, pod: str, kubeconfig_dir: Path, log_dir: Path, *, extra_args: tuple[str, ...] = ()) -> None:
        deployment = yaml.safe_load((DEPLOY / "base" / "deployment.yaml").read_text())
        spec = deployment["spec"]["template"]["spec"]
        main = container(deployment)
        volume = next(v["name"] for v in spec["volumes"] if v.get("secret", {}).get("secretName"))
        mount = next(m["mountPath"] for m in main["volumeMounts"] if m["name"] == volume)
        self.port = free_port()
        env: dict[str, str] = {}
        for entry in main["env"]:
            if "value" in entry:
                env[entry["name"]] = entry["value"]
            elif entry.get("valueFrom") == {"fieldRef": {"fieldPath": "metadata.name"}}:
                env[entry["name"]] = pod
            else:
                raise AssertionError(f"the test does not know how Kubernetes fills {entry}")
        env["TMC_HEALTH_PORT"] = str(self.port)  # in the pod: the containerPort the probes use
        command = [str(Path(sys.executable).parent / main["command"][0])]
        args = [arg.replace(mount, str(kubeconfig_dir)) for arg in main["args"]]
        self.pod = pod
        self.process = ManagedProcess(pod, [*command, *args, *extra_args], log_dir / f"{pod}.log", env=env)

    async def get(self, path: str) -> httpx.Response:
        async with httpx.AsyncClient(timeout=5) as http:
            return await http.get(f"http://127.0.0.1:{self.port}{path}")

    async def start_and_wait_ready(self) -> None:
        await self.process.start()

        async def ready() -> bool:
            try:
                return (await self.get("/readyz")).status_code == 200
            except httpx.HTTPError:
                return False

        await wait_until(self.process, ready, what="/readyz 200", timeout=60 + SLACK)

    async def metrics(self) -> dict[str, Any]:
        text = (await self.get("/metrics")).text
        return {family.name: family for family in text_string_to_metric_families(text)}

    def log_lines(self) -> list[JSON]:
        lines = [line for line in self.process.log_path.read_text().splitlines() if line.strip()]
        parsed = []
        for line in lines:
            record = json.loads(line)  # a line that is not JSON fails here, naming itself
            assert {"time", "level", "logger", "message"} <= record.keys(), line
            parsed.append(record)
        return parsed


def sample(families: dict[str, Any], name: str, **labels: str) -> float:
    """The sum of a sample's values over the series matching ``labels``; ``name`` as exposed (``..._total``,
    ``..._count``), the family being what the parser names it (without the suffix)."""
    family = next(
        (families[f] for f in (name, *(name.removesuffix(s) for s in ("_total", "_count", "_sum"))) if f in families),
        None,
    )
    values = (
        [s.value for s in family.samples if s.name == name and labels.items() <= s.labels.items()] if family else []
    )
    return float(sum(values))


@pytest.fixture
async def replicas(tmp_path: Path) -> AsyncIterator[list[Replica]]:
    started: list[Replica] = []
    yield started
    for replica in started:
        await replica.process.stop()
        print(f"--- {replica.pod} ---\n{tail(replica.process.log_path, 30)}")


def _condition_reasons(obj: JSON) -> set[str]:
    return {str(c.get("reason")) for c in (obj.get("status") or {}).get("conditions", [])}


def _holder_in(identities: tuple[str, ...]) -> Any:
    return lambda lease: lease.get("spec", {}).get("holderIdentity") in identities


async def test_the_deployments_command_runs_as_the_least_privileged_identity_the_kcp_rbac_grants(
    kcp_with_identity: KcpServer,
    physical_clusters: ClusterFactory,
    replicas: list[Replica],
    tmp_path: Path,
) -> None:
    kcp = kcp_with_identity
    identity = kcp.user_access(IDENTITY_USER)
    kubeconfig_dir = tmp_path / "secret"
    kubeconfig_dir.mkdir()
    (kubeconfig_dir / "kubeconfig").write_text(
        identity.with_server(kcp.url + TMC_WORKSPACE.url_prefix).to_kubeconfig_yaml("kcp")
    )
    async with KubeClient(kcp.access) as admin, KubeClient(identity) as as_identity:
        await install(admin)
        with pytest.raises(ForbiddenError):
            await as_identity.get(API_EXPORTS, "tmc.kcp.io", cluster=TMC_WORKSPACE)
        rbac = yaml.safe_load((DEPLOY / "kcp-rbac" / "kustomization.yaml").read_text())
        for name in rbac["resources"]:
            for doc in yaml.safe_load_all((DEPLOY / "kcp-rbac" / name).read_text()):
                await apply(admin, doc, cluster=TMC_WORKSPACE)
        await as_identity.get(API_EXPORTS, "tmc.kcp.io", cluster=TMC_WORKSPACE)

        tenant = ROOT.join("deploy-tenant")
        await ensure_workspace(admin, tenant)
        await bind(admin, tenant)
        cluster = await physical_clusters("deploy-west")
        await register(admin, tenant, "west", cluster, "us-west")
        placement = await admin.create(PLACEMENTS, seed_example(4), cluster=tenant, namespace="default")
        logical_cluster = placement["metadata"]["annotations"]["kcp.io/cluster"]
        await admin.create(DEPLOYMENTS, deployment("web"), cluster=tenant, namespace="default")

        # 2. Two replicas exactly as the Deployment runs them.
        for pod in PODS:
            replicas.append(Replica(pod, kubeconfig_dir, tmp_path))
        await asyncio.gather(*(replica.start_and_wait_ready() for replica in replicas))
        lease = await wait_for_object(
            admin, LEASES, LEASE_NAME, _holder_in(PODS), cluster=TMC_WORKSPACE, namespace=LEASE_NAMESPACE
        )
        leader = next(r for r in replicas if r.pod == lease["spec"]["holderIdentity"])
        standby = next(r for r in replicas if r is not leader)
        assert (await standby.get("/readyz?verbose")).text.strip().endswith(f"standby ({standby.pod})")
        await wait_for_object(
            admin,
            REGISTRATIONS,
            "west",
            lambda obj: ADDRESS_NOT_ALLOWED in _condition_reasons(obj),
            cluster=tenant,
            timeout=SLACK,
        )
        families = await leader.metrics()
        assert {name for name in families if name.startswith("tmc_")} == base_names()
        assert sample(families, "tmc_leader", lease=LEASE_NAME) == 1
        assert sample(await standby.metrics(), "tmc_leader", lease=LEASE_NAME) == 0
        await asyncio.gather(*(replica.process.stop() for replica in replicas))  # SIGTERM releases the Lease
        for replica in replicas:
            records = replica.log_lines()
            assert records, f"{replica.pod} logged nothing"
            assert not [r for r in records if "forbidden" in json.dumps(r).lower()]

        # 3. The same command, allowing the local cluster's loopback address: a whole sync as this identity.
        synced = Replica(PODS[0], kubeconfig_dir, tmp_path / "sync", extra_args=("--allow-cluster-cidr=127.0.0.0/8",))
        replicas.append(synced)
        await synced.start_and_wait_ready()
        await wait_for_object(
            admin, LEASES, LEASE_NAME, _holder_in((synced.pod,)), cluster=TMC_WORKSPACE, namespace=LEASE_NAMESPACE
        )
        namespace = Locator(logical_cluster, "default", "west").physical_namespace
        async with KubeClient(cluster.access) as physical:
            copy = await wait_for_object(
                physical, DEPLOYMENTS, "web", lambda obj: True, namespace=namespace, timeout=2 * SLACK
            )
            wanted = copy["spec"]["replicas"]
            await physical.merge_patch(DEPLOYMENTS, "web", {"spec": {"replicas": wanted + 3}}, namespace=namespace)
            await wait_for_object(
                physical,
                DEPLOYMENTS,
                "web",
                lambda obj: obj["spec"]["replicas"] == wanted and obj["metadata"]["generation"] >= 3,
                namespace=namespace,
                timeout=SLACK,
            )

        async def drift_logged() -> bool:
            return any("drifted" in r["message"] for r in synced.log_lines())

        await wait_until(synced.process, drift_logged, what="the drift's log line", timeout=SLACK)
        drift = next(r for r in synced.log_lines() if "drifted" in r["message"])
        assert {k: drift[k] for k in ("controller", "workspace", "namespace", "name", "cluster")} == {
            "controller": "sync",
            "workspace": logical_cluster,
            "namespace": "default",
            "name": "deployment-web",
            "cluster": "west",
        }
        families = await synced.metrics()
        assert sample(families, "tmc_sync_copies_applied_total", cluster="west") >= 1
        assert sample(families, "tmc_sync_drift_corrections_total", cluster="west") >= 1
        assert sample(families, "tmc_sync_apply_latency_seconds_count") >= 1
        assert sample(families, "tmc_cluster_probe_duration_seconds_count", result="Live") >= 1
        assert sample(families, "tmc_cluster_registrations", ready="True") == 1
        assert sample(families, "tmc_workqueue_depth", controller="sync") >= 0
        assert not families["tmc_cluster_not_ready"].samples, "no registration is down"
        assert not [r for r in synced.log_lines() if "forbidden" in json.dumps(r).lower()]
