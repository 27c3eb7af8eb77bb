"""What every ``tmc`` command shares: where kcp is, which workspace, one client, and errors as one line.

**Where kcp is**: ``--kubeconfig`` (or ``KUBECONFIG``), else the embedded default's admin kubeconfig that
``tmc up`` wrote. Commands talk to kcp's base URL and name workspaces by path themselves.

**Which workspace** (tenant commands): ``--workspace``, else the workspace the kubeconfig's server URL names
(``https://kcp:6443/clusters/root:acme``, which is what kcp's ``kubectl ws`` switches), else, for the
embedded default only, the tenant ``tmc up`` created. So ``kubectl tmc get clusters`` follows ``kubectl ws``.

**Errors** end a command with one line on stderr saying what to do, and exit code 1 (2 for usage errors); a
``TMCError`` is expected and never shows a traceback. ``TMC_DEBUG=1`` re-raises, for a developer.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import httpx
import typer
from rich.console import Console
from rich.text import Text

from tmc.errors import ApiError, ConfigError, ForbiddenError, LocalServerError, NotFoundError, TMCError
from tmc.kcp.kubeconfig import ClusterAccess, load_kubeconfig
from tmc.kcp.paths import ROOT, LogicalClusterPath, base_url
from tmc.kcp.rest import KubeClient, TransportError

DEFAULT_STATE_DIR = Path(os.environ.get("TMC_STATE_DIR") or Path.home() / ".cache" / "tmc" / "embedded")

err = Console(stderr=True, soft_wrap=True, highlight=False)

# The test seam for every request the CLI makes (an ``httpx.MockTransport`` in unit tests); None: the network.
transport: httpx.AsyncBaseTransport | None = None


def embedded_admin_kubeconfig(state_dir: Path = DEFAULT_STATE_DIR) -> Path:
    return state_dir / "kcp" / "tmc-admin.kubeconfig"


@dataclass(frozen=True, slots=True)
class Target:
    """kcp's base URL with credentials, and the workspace a tenant command acts in (if known)."""

    access: ClusterAccess
    workspace: LogicalClusterPath | None
    kubeconfig: Path

    def tenant(self) -> LogicalClusterPath:
        if self.workspace is None or self.workspace == ROOT:
            where = "names no workspace" if self.workspace is None else "points at workspace root"
            raise ConfigError(
                f"{self.kubeconfig} {where}: pass --workspace with a tenant workspace (e.g. --workspace root:acme)"
            )
        return self.workspace

    def client(self, *, timeout: float = 30.0) -> KubeClient:
        return KubeClient(self.access, timeout=timeout, user_agent="tmc-cli", transport=transport)


def load_target(kubeconfig: Path | None, workspace: str | None = None) -> Target:
    embedded_tenant: str | None = None
    if kubeconfig is None:
        kubeconfig = embedded_admin_kubeconfig()
        if not kubeconfig.exists():
            raise ConfigError("no kubeconfig: pass --kubeconfig or set KUBECONFIG (or start kcp with `tmc up`)")
        embedded_tenant = _embedded_tenant()
    access = load_kubeconfig(kubeconfig)
    named = _workspace_in_url(access.server)
    chosen = workspace or (named if named not in (None, ROOT.value) else embedded_tenant) or named
    return Target(
        access=access.with_server(base_url(access.server)),
        workspace=LogicalClusterPath.parse(chosen) if chosen else None,
        kubeconfig=kubeconfig,
    )


def _workspace_in_url(server: str) -> str | None:
    _, sep, rest = server.partition("/clusters/")
    if not sep:
        return None
    return rest.strip("/").split("/")[0] or None


def _embedded_tenant() -> str | None:
    try:
        state = json.loads((DEFAULT_STATE_DIR / "state.json").read_text())
    except (OSError, ValueError):
        return None
    tenant = state.get("tenant") if isinstance(state, dict) else None
    return tenant if isinstance(tenant, str) else None


# -- errors ------------------------------------------------------------------------------------------------


def describe(exc: BaseException) -> str:
    """One line a user can act on."""
    if isinstance(exc, TransportError):
        return f"cannot reach the server ({exc.message}); check --kubeconfig, and that kcp runs (`tmc up`)"
    if isinstance(exc, ForbiddenError):
        return f"forbidden: {exc.message}; use a kubeconfig (--kubeconfig) whose user may do this"
    if isinstance(exc, ApiError):
        return f"{exc.reason}: {exc.message}"
    if isinstance(exc, LocalServerError):
        return str(exc)  # names the server and quotes its log: several lines on purpose
    if isinstance(exc, TimeoutError):
        return f"timed out: {exc}" if str(exc) else "timed out"
    return " ".join(str(exc).split())


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(Text.assemble(("error: ", "red"), message))
    raise typer.Exit(code)


def run(coro: Coroutine[Any, Any, Any]) -> None:
    """Run a command's coroutine; expected errors become one line and exit code 1, Ctrl-C exits 130."""
    honour_interrupts()
    try:
        asyncio.run(coro)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    except (TMCError, OSError, TimeoutError) as exc:
        if os.environ.get("TMC_DEBUG"):
            raise
        fail(describe(exc))


def honour_interrupts() -> None:
    """Ctrl-C (SIGINT) ends a command even when it was started with SIGINT ignored.

    A shell without job control starts background commands (``tmc get -w > log &``, a CI step, a test
    runner launched with ``&``) with SIGINT ignored, and the ignore is inherited; Python then installs no
    ``KeyboardInterrupt`` handler and ``asyncio.run`` none either, so ``kill -INT`` could never end a watch.
    kubectl (Go's ``signal.Notify``) un-ignores SIGINT the same way.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def not_served(exc: NotFoundError, what: str, workspace: LogicalClusterPath) -> ConfigError:
    """A 404 on a list: the workspace does not exist, or is not bound to TMC."""
    return ConfigError(
        f"workspace {workspace} does not serve {what} ({exc.message}); "
        f"bind it with `tmc bind {workspace}`, or pass --workspace with a bound one"
    )


def stdout_console() -> Console:
    """Tables on stdout; wide when piped, so no column is cut (kubectl does not wrap either)."""
    if sys.stdout.isatty():
        return Console(soft_wrap=True, highlight=False)
    return Console(width=250, soft_wrap=True, highlight=False, color_system=None)
