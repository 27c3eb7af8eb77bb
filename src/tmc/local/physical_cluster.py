"""A live Kubernetes cluster on loopback: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok.

kwok stands in for kubelets: it runs the fake Nodes the harness creates (shape from ``NodeSpec``) and takes
scheduled Pods to Running and Ready, so a Deployment really rolls out and its status is written by the real
deployment controller. The apiserver can be stopped and started on its own (etcd keeps the data, the other
components reconnect) to play a cluster outage.
"""

from __future__ import annotations

import contextlib
import secrets
from pathlib import Path

from tmc.errors import ConflictError
from tmc.kcp.kubeconfig import ClusterAccess
from tmc.kcp.resources import NODES
from tmc.kcp.rest import KubeClient
from tmc.local.binaries import ensure_binaries
from tmc.local.certs import generate_serving_pki
from tmc.local.nodes import NodeSpec
from tmc.local.ports import free_port
from tmc.local.process import ManagedProcess
from tmc.local.readiness import http_ok, wait_for_nodes_ready, wait_until


class PhysicalCluster:
    def __init__(
        self, name: str, work_dir: Path, *, nodes: NodeSpec | None = None, start_timeout: float = 120.0
    ) -> None:
        self.name = name
        self.work_dir = work_dir
        self.nodes = nodes if nodes is not None else NodeSpec()
        self.port = free_port()
        self.etcd_port = free_port()
        self.etcd_peer_port = free_port()
        self.start_timeout = start_timeout
        self._token = secrets.token_urlsafe(32)
        self._pki_paths: dict[str, Path] = {}
        self._etcd: ManagedProcess | None = None
        self._apiserver: ManagedProcess | None = None
        self._components: list[ManagedProcess] = []

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def access(self) -> ClusterAccess:
        return ClusterAccess(server=self.url, ca_data=self._pki_paths["ca"].read_bytes(), token=self._token)

    @property
    def kubeconfig_path(self) -> Path:
        return self.work_dir / "kubeconfig"

    @property
    def apiserver_running(self) -> bool:
        return self._apiserver is not None and self._apiserver.running

    async def start(self, *, control_plane_only: bool = False) -> None:
        """``control_plane_only``: etcd and kube-apiserver, no controllers, scheduler or nodes (enough to
        read the server's API, as the workload schema generator does)."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._pki_paths = generate_serving_pki(self.name).write(self.work_dir / "pki")
        token_file = self.work_dir / "tokens.csv"
        token_file.touch(mode=0o600)
        token_file.write_text(f'{self._token},tmc-admin,tmc-admin,"system:masters"\n')
        self.kubeconfig_path.touch(mode=0o600)
        self.kubeconfig_path.write_text(self.access.to_kubeconfig_yaml(self.name))
        await self._start_etcd()
        await self.start_apiserver()
        if control_plane_only:
            return
        await self._start_components()
        await self._create_nodes()

    async def _start_etcd(self) -> None:
        client_url = f"http://127.0.0.1:{self.etcd_port}"
        peer_url = f"http://127.0.0.1:{self.etcd_peer_port}"
        self._etcd = ManagedProcess(
            f"etcd[{self.name}]",
            [
                str(ensure_binaries().etcd),
                f"--name={self.name}",
                f"--data-dir={self.work_dir / 'etcd'}",
                f"--listen-client-urls={client_url}",
                f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster={self.name}={peer_url}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
            self.work_dir / "etcd.log",
        )
        await self._etcd.start()
        async with KubeClient(ClusterAccess(server=client_url), timeout=5) as client:
            await wait_until(
                self._etcd,
                lambda: http_ok(client, "/health"),
                what="etcd /health",
                timeout=self.start_timeout,
            )

    async def start_apiserver(self) -> None:
        if self.apiserver_running:
            return
        pki = self._pki_paths
        self._apiserver = ManagedProcess(
            f"kube-apiserver[{self.name}]",
            [
                str(ensure_binaries().kube_apiserver),
                f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
                f"--secure-port={self.port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--tls-cert-file={pki['cert']}",
                f"--tls-private-key-file={pki['key']}",
                f"--client-ca-file={pki['ca']}",
                f"--token-auth-file={self.work_dir / 'tokens.csv'}",
                "--authorization-mode=RBAC",
                "--service-cluster-ip-range=10.0.0.0/24",
                f"--service-account-issuer=https://127.0.0.1:{self.port}",
                f"--service-account-key-file={pki['sa-pub']}",
                f"--service-account-signing-key-file={pki['sa-key']}",
                # kwok's pods mount nothing; without this a pod created before the service-account controller
                # made the namespace's "default" account would be refused and retried with backoff.
                "--disable-admission-plugins=ServiceAccount",
                "--allow-privileged=true",
                f"--cert-dir={self.work_dir / 'certs'}",
            ],
            self.work_dir / "kube-apiserver.log",
        )
        await self._apiserver.start()
        async with KubeClient(self.access, timeout=5) as client:
            await wait_until(
                self._apiserver,
                lambda: http_ok(client, "/readyz"),
                what="kube-apiserver /readyz",
                timeout=self.start_timeout,
            )

    async def _start_components(self) -> None:
        binaries = ensure_binaries()
        pki = self._pki_paths
        kubeconfig = str(self.kubeconfig_path)
        self._components = [
            ManagedProcess(
                f"kube-controller-manager[{self.name}]",
                [
                    str(binaries.kube_controller_manager),
                    f"--kubeconfig={kubeconfig}",
                    "--leader-elect=false",
                    "--secure-port=0",
                    f"--service-account-private-key-file={pki['sa-key']}",
                    f"--root-ca-file={pki['ca']}",
                    "--use-service-account-credentials=false",
                    "--concurrent-deployment-syncs=10",
                    "--concurrent-replicaset-syncs=10",
                ],
                self.work_dir / "kube-controller-manager.log",
            ),
            ManagedProcess(
                f"kube-scheduler[{self.name}]",
                [str(binaries.kube_scheduler), f"--kubeconfig={kubeconfig}", "--leader-elect=false", "--secure-port=0"],
                self.work_dir / "kube-scheduler.log",
            ),
            ManagedProcess(
                f"kwok[{self.name}]",
                [
                    str(binaries.kwok),
                    f"--kubeconfig={kubeconfig}",
                    f"--config={binaries.kwok_stages}",
                    "--manage-all-nodes=false",
                    "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                    "--node-lease-duration-seconds=40",
                    "--cidr=10.244.0.0/16",
                    "--node-ip=10.240.0.1",
                ],
                self.work_dir / "kwok.log",
                env={"KWOK_WORKDIR": str(self.work_dir / "kwok")},
            ),
        ]
        for component in self._components:
            await component.start()

    async def _create_nodes(self) -> None:
        async with KubeClient(self.access, timeout=10) as client:
            for node in self.nodes.manifests(self.name):
                with contextlib.suppress(ConflictError):  # restarted on kept data: the node is already there
                    await client.create(NODES, node)
            await wait_for_nodes_ready(
                client, self._components, count=self.nodes.count, what=f"{self.name}: nodes Ready", timeout=60
            )

    async def stop_apiserver(self, *, grace: float = 1.0) -> None:
        """Plays an outage: kube-apiserver's graceful drain (up to a minute with open watches) is cut after
        ``grace`` seconds, as a crashed or partitioned cluster would be. etcd keeps the data."""
        if self._apiserver is not None:
            await self._apiserver.stop(timeout=grace)

    async def stop(self) -> None:
        for component in self._components:
            await component.stop()
        await self.stop_apiserver()
        if self._etcd is not None:
            await self._etcd.stop()

    def pids(self) -> list[int]:
        processes = (self._etcd, self._apiserver, *self._components)
        return [p.pid for p in processes if p is not None and p.running and p.pid]
