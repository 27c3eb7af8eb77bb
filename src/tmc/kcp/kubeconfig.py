"""Kubeconfig files: the one way TMC is told how to reach kcp or a physical cluster.

Only what TMC needs is read: server, CA, bearer token or client certificate of one context. The
credential never leaves this object except into the TLS/HTTP layer; ``__repr__`` hides it so that logging a
``ClusterAccess`` cannot leak it.

This parser is for the operator's own kubeconfig (``tmc controller --kubeconfig``), where files next to the
kubeconfig may be referenced. A kubeconfig from a tenant Secret must first pass ``tmc.clusters.policy``,
which refuses everything but inline server, CA, token and client certificate data.

Client keys never touch a disk: Python's ``ssl`` loads a certificate chain only from a path, so the key is
written to an anonymous in-memory file (``memfd_create``, Linux) and loaded through ``/proc/self/fd``; where
that is missing, a private temporary file is used and deleted right after ``load_cert_chain``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from tmc.errors import ConfigError


@dataclass(frozen=True, slots=True)
class ClusterAccess:
    server: str
    ca_data: bytes | None = None
    token: str | None = field(default=None, repr=False)
    client_cert_data: bytes | None = field(default=None, repr=False)
    client_key_data: bytes | None = field(default=None, repr=False)
    insecure_skip_tls_verify: bool = False

    def with_server(self, server: str) -> ClusterAccess:
        return replace(self, server=server)

    def ssl_context(self) -> ssl.SSLContext:
        if self.insecure_skip_tls_verify:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        elif self.ca_data:
            context = ssl.create_default_context(cadata=self.ca_data.decode())
        else:
            context = ssl.create_default_context()
        if self.client_cert_data and self.client_key_data:
            with _in_memory_file(self.client_cert_data) as cert, _in_memory_file(self.client_key_data) as key:
                context.load_cert_chain(cert, key)
        return context

    def fingerprint(self) -> str:
        """A digest of server and credentials: equal for equal access, different when anything changes.

        Used as a pool key, so a changed Secret yields a new client; the digest cannot be turned back into the
        credential.
        """
        digest = hashlib.sha256()
        for part in (
            self.server.encode(),
            self.ca_data or b"",
            (self.token or "").encode(),
            self.client_cert_data or b"",
            self.client_key_data or b"",
            b"insecure" if self.insecure_skip_tls_verify else b"",
        ):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
        return digest.hexdigest()[:32]

    def to_kubeconfig(self, name: str = "tmc") -> dict[str, Any]:
        cluster: dict[str, Any] = {"server": self.server}
        if self.insecure_skip_tls_verify:
            cluster["insecure-skip-tls-verify"] = True
        elif self.ca_data:
            cluster["certificate-authority-data"] = base64.b64encode(self.ca_data).decode()
        user: dict[str, Any] = {}
        if self.token:
            user["token"] = self.token
        if self.client_cert_data and self.client_key_data:
            user["client-certificate-data"] = base64.b64encode(self.client_cert_data).decode()
            user["client-key-data"] = base64.b64encode(self.client_key_data).decode()
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": name, "cluster": cluster}],
            "users": [{"name": name, "user": user}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
            "current-context": name,
        }

    def to_kubeconfig_yaml(self, name: str = "tmc") -> str:
        return yaml.safe_dump(self.to_kubeconfig(name), sort_keys=False)


@contextlib.contextmanager
def _in_memory_file(data: bytes) -> Iterator[str]:
    """A path ``ssl`` can read ``data`` from, backed by memory where the OS allows it."""
    memfd_create = getattr(os, "memfd_create", None)
    if memfd_create is not None and Path("/proc/self/fd").is_dir():
        fd = memfd_create("tmc-cred", getattr(os, "MFD_CLOEXEC", 0))
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    # Fallback: a file only this user can read, removed as soon as the caller has loaded it.
    with tempfile.TemporaryDirectory(prefix="tmc-cred-") as tmp:
        path = Path(tmp, "data")
        path.touch(mode=0o600)
        path.write_bytes(data)
        try:
            yield str(path)
        finally:
            path.unlink()


def _named(entries: Any, name: str, what: str, source: str) -> dict[str, Any]:
    for entry in entries or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            value = entry.get(what)
            if isinstance(value, dict):
                return value
    raise ConfigError(f"{source}: no {what} named {name!r}")


def _data(section: dict[str, Any], key: str, source: str, base_dir: Path | None) -> bytes | None:
    if f"{key}-data" in section:
        try:
            return base64.b64decode(section[f"{key}-data"], validate=True)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{source}: field {key}-data is not valid base64") from exc
    if key in section:
        if base_dir is None:
            raise ConfigError(f"{source}: field {key} refers to a file, which is not allowed here; use {key}-data")
        return (base_dir / str(section[key])).read_bytes()
    return None


def parse_kubeconfig(
    text: str, *, context: str | None = None, source: str = "kubeconfig", base_dir: Path | None = None
) -> ClusterAccess:
    """Parse kubeconfig text; errors name the field and never echo credential values."""
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML") from exc
    if not isinstance(config, dict):
        raise ConfigError(f"{source}: expected a kubeconfig mapping with clusters, users and contexts")
    context_name = context or config.get("current-context")
    if not context_name:
        raise ConfigError(f"{source}: field current-context is empty and no context was given")
    ctx = _named(config.get("contexts"), context_name, "context", source)
    cluster = _named(config.get("clusters"), ctx.get("cluster", ""), "cluster", source)
    user = _named(config.get("users"), ctx.get("user", ""), "user", source) if ctx.get("user") else {}
    server = cluster.get("server")
    if not isinstance(server, str) or not server.startswith(("https://", "http://")):
        raise ConfigError(f"{source}: field clusters[].cluster.server must be an http(s) URL")
    token = user.get("token")
    if token is None and "tokenFile" in user and base_dir is not None:
        token = (base_dir / user["tokenFile"]).read_text().strip()
    return ClusterAccess(
        server=server.rstrip("/"),
        ca_data=_data(cluster, "certificate-authority", source, base_dir),
        token=token,
        client_cert_data=_data(user, "client-certificate", source, base_dir),
        client_key_data=_data(user, "client-key", source, base_dir),
        insecure_skip_tls_verify=bool(cluster.get("insecure-skip-tls-verify", False)),
    )


def load_kubeconfig(path: Path, *, context: str | None = None) -> ClusterAccess:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read kubeconfig {path}: {exc.strerror}") from exc
    return parse_kubeconfig(text, context=context, source=str(path), base_dir=path.parent)
