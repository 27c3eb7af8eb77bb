"""Locating (and if needed building) the kcp, kube-apiserver and etcd binaries.

``hack/build-binaries`` is the single place that knows versions and how to build; this module asks it for
the paths, so a missing binary is built (loudly, failing on error) rather than a test being skipped.
Environment overrides: ``TMC_KCP_BIN``, ``TMC_KUBE_APISERVER_BIN``, ``TMC_ETCD_BIN``.
"""

from __future__ import annotations

import functools
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tmc.errors import LocalServerError


@dataclass(frozen=True, slots=True)
class Binaries:
    kcp: Path
    kube_apiserver: Path
    etcd: Path


def repo_root() -> Path:
    configured = os.environ.get("TMC_REPO_ROOT")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[3]


@functools.cache
def ensure_binaries() -> Binaries:
    overrides = {
        "kcp": os.environ.get("TMC_KCP_BIN"),
        "kube-apiserver": os.environ.get("TMC_KUBE_APISERVER_BIN"),
        "etcd": os.environ.get("TMC_ETCD_BIN"),
    }
    paths: dict[str, Path] = {name: Path(value) for name, value in overrides.items() if value}
    if len(paths) < len(overrides):
        script = repo_root() / "hack" / "build-binaries"
        if not script.exists():
            raise LocalServerError(f"cannot build server binaries: {script} not found (set TMC_REPO_ROOT)")
        result = subprocess.run([str(script), "--print"], stdout=subprocess.PIPE, text=True, check=False)
        if result.returncode != 0:
            raise LocalServerError(f"{script} failed with exit code {result.returncode}; see its output above")
        for line in result.stdout.splitlines():
            name, _, built = line.partition("=")
            paths.setdefault(name, Path(built))
    for name, path in paths.items():
        if not os.access(path, os.X_OK):
            raise LocalServerError(f"{name} binary {path} is missing or not executable")
    return Binaries(kcp=paths["kcp"], kube_apiserver=paths["kube-apiserver"], etcd=paths["etcd"])
