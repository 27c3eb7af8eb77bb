"""A real kcp server on loopback: ``kcp start`` with its own root directory and free ports."""

from __future__ import annotations

import secrets
from pathlib import Path

from tmc.kcp.kubeconfig import ClusterAccess, load_kubeconfig
from tmc.kcp.paths import ROOT
from tmc.kcp.resources import WORKSPACES
from tmc.kcp.rest import KubeClient
from tmc.local.binaries import ensure_binaries
from tmc.local.ports import free_port
from tmc.local.process import ManagedProcess
from tmc.local.readiness import http_ok, wait_until

ADMIN_USER = "tmc-admin"
# kcp treats system:kcp:admin as its own superuser group, in every workspace. Not system:masters: kcp records
# no owner for workspaces such users create, and then cannot initialize them (APIBindings stay pending).
ADMIN_GROUPS = "system:kcp:admin"


class KcpServer:
    """Start/stop/restart one kcp; data survives restarts on the same root directory."""

    def __init__(
        self,
        root_dir: Path,
        *,
        port: int | None = None,
        start_timeout: float = 180.0,
        users: tuple[str, ...] = (),
    ) -> None:
        self.root_dir = root_dir
        self.users = users
        self.port = port or free_port()
        self.etcd_client_port = free_port()
        self.etcd_peer_port = free_port()
        self.start_timeout = start_timeout
        self._token_file = root_dir / "tmc-tokens.csv"
        self._process: ManagedProcess | None = None
        self._access: ClusterAccess | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def access(self) -> ClusterAccess:
        """Admin access to the server's base URL (no /clusters prefix)."""
        if self._access is None:
            raise RuntimeError("kcp is not started")
        return self._access

    @property
    def admin_kubeconfig_path(self) -> Path:
        return self.root_dir / "tmc-admin.kubeconfig"

    @property
    def process(self) -> ManagedProcess | None:
        return self._process

    def _admin_token(self) -> str:
        # Tokens of our own keep clients working across restarts (kcp's generated admin token changes).
        if not self._token_file.exists():
            lines = [f'{secrets.token_urlsafe(32)},{ADMIN_USER},{ADMIN_USER},"{ADMIN_GROUPS}"']
            lines += [f"{secrets.token_urlsafe(32)},{user},{user}" for user in self.users]
            self._token_file.touch(mode=0o600)
            self._token_file.write_text("\n".join(lines) + "\n")
        return self._tokens()[ADMIN_USER]

    def _tokens(self) -> dict[str, str]:
        rows = (line.split(",") for line in self._token_file.read_text().splitlines() if line)
        return {row[1]: row[0] for row in rows}

    def user_access(self, user: str) -> ClusterAccess:
        """Access as a plain (non-admin) user; RBAC in each workspace decides what it may do."""
        return ClusterAccess(server=self.url, ca_data=self.access.ca_data, token=self._tokens()[user])

    async def start(self) -> None:
        self.root_dir.mkdir(parents=True, exist_ok=True)
        token = self._admin_token()
        argv = [
            str(ensure_binaries().kcp),
            "start",
            f"--root-directory={self.root_dir}",
            f"--secure-port={self.port}",
            "--bind-address=127.0.0.1",
            f"--embedded-etcd-client-port={self.etcd_client_port}",
            f"--embedded-etcd-peer-port={self.etcd_peer_port}",
            f"--token-auth-file={self._token_file}",
            f"--external-hostname=127.0.0.1:{self.port}",
        ]
        self._process = ManagedProcess("kcp", argv, self.root_dir / "kcp.log")
        await self._process.start()
        await wait_until(self._process, self._kubeconfig_written, what="admin.kubeconfig", timeout=self.start_timeout)
        generated = load_kubeconfig(self.root_dir / "admin.kubeconfig", context="base")
        base = ClusterAccess(server=self.url, ca_data=generated.ca_data, token=token)
        self._access = base
        self.admin_kubeconfig_path.touch(mode=0o600)
        self.admin_kubeconfig_path.write_text(
            base.with_server(self.url + ROOT.url_prefix).to_kubeconfig_yaml("kcp-root")
        )
        async with KubeClient(base, timeout=10) as client:
            await wait_until(
                self._process, lambda: http_ok(client, "/readyz"), what="/readyz", timeout=self.start_timeout
            )
            # /readyz can pass before the tenancy API is served in root; kcp's own e2e waits for both.
            await wait_until(
                self._process,
                lambda: http_ok(client, WORKSPACES.path(ROOT)),
                what="the tenancy API in root",
                timeout=self.start_timeout,
            )

    async def _kubeconfig_written(self) -> bool:
        return (self.root_dir / "admin.kubeconfig").exists()

    async def stop(self) -> None:
        if self._process is not None:
            await self._process.stop()

    async def restart(self) -> None:
        await self.stop()
        await self.start()
