"""Locating (and if needed building) the server binaries: kcp, and a live cluster's etcd, kube-apiserver,
kube-controller-manager, kube-scheduler and kwok (plus kwok's Stage objects).

``hack/build-binaries`` is the single place that knows versions, how to build, and the ``TMC_<NAME>_BIN``
overrides; this module asks it for the paths, so a missing binary is built (loudly, failing on error) rather
than a test being skipped.
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
    kube_controller_manager: Path
    kube_scheduler: Path
    kwok: Path
    kwok_stages: Path
    etcd: Path


def repo_root() -> Path:
    configured = os.environ.get("TMC_REPO_ROOT")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[3]


@functools.cache
def ensure_binaries() -> Binaries:
    script = repo_root() / "hack" / "build-binaries"
    if not script.exists():
        raise LocalServerError(f"cannot find server binaries: {script} not found (set TMC_REPO_ROOT)")
    result = subprocess.run([str(script), "--print"], stdout=subprocess.PIPE, text=True, check=False)
    if result.returncode != 0:
        raise LocalServerError(f"{script} failed with exit code {result.returncode}; see its output above")
    paths: dict[str, Path] = {}
    for line in result.stdout.splitlines():
        name, _, built = line.partition("=")
        paths[name.replace("-", "_")] = Path(built)
    missing = [name for name in Binaries.__dataclass_fields__ if name not in paths]
    if missing:
        raise LocalServerError(f"{script} --print did not name {', '.join(missing)}")
    for name, path in paths.items():
        if name != "kwok_stages" and not os.access(path, os.X_OK):
            raise LocalServerError(f"{name} binary {path} is missing or not executable")
    return Binaries(**{name: paths[name] for name in Binaries.__dataclass_fields__})
