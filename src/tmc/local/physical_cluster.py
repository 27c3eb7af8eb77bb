"""A real Kubernetes API server on loopback (etcd + kube-apiserver), the way envtest runs one.

There are no nodes or kubelets: objects are stored and served exactly as on any cluster, which is what TMC's
sync engine talks to. The apiserver can be stopped and started on its own (etcd keeps the data) to play a
cluster outage.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from tmc.kcp.kubeconfig import ClusterAccess
from tmc.kcp.rest import KubeClient
from tmc.local.binaries import ensure_binaries
from tmc.local.certs import generate_serving_pki
from tmc.local.ports import free_port
from tmc.local.process import ManagedProcess
from tmc.local.readiness import http_ok, wait_until


class PhysicalCluster:
    def __init__(self, name: str, work_dir: Path, *, start_timeout: float = 120.0) -> None:
        self.name = name
        self.work_dir = work_dir
        self.port = free_port()
        self.etcd_port = free_port()
        self.etcd_peer_port = free_port()
        self.start_timeout = start_timeout
        self._token = secrets.token_urlsafe(32)
        self._pki_paths: dict[str, Path] = {}
        self._etcd: ManagedProcess | None = None
        self._apiserver: ManagedProcess | None = None

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

    async def start(self) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._pki_paths = generate_serving_pki(self.name).write(self.work_dir / "pki")
        token_file = self.work_dir / "tokens.csv"
        token_file.touch(mode=0o600)
        token_file.write_text(f'{self._token},tmc-admin,tmc-admin,"system:masters"\n')
        self.kubeconfig_path.touch(mode=0o600)
        self.kubeconfig_path.write_text(self.access.to_kubeconfig_yaml(self.name))
        await self._start_etcd()
        await self.start_apiserver()

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
                # No controller-manager runs, so nothing would mint service-account tokens for pods.
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

    async def stop_apiserver(self) -> None:
        if self._apiserver is not None:
            await self._apiserver.stop()

    async def stop(self) -> None:
        await self.stop_apiserver()
        if self._etcd is not None:
            await self._etcd.stop()

    def pids(self) -> list[int]:
        return [p.pid for p in (self._etcd, self._apiserver) if p is not None and p.running and p.pid]
