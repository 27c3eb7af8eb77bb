"""What a tenant may put in a kubeconfig Secret, and which addresses TMC may connect to for a tenant.

A tenant's kubeconfig is input from someone TMC does not trust, and TMC acts on it from its own network
position with its own process. So the kubeconfig is read by an allow-list, not by a general parser:

========================================  ===========================================================
allowed                                   why
========================================  ===========================================================
``clusters[].cluster.server``             ``https://`` only: the credential is sent to it
``clusters[].cluster.certificate-authority-data``  inline CA; without it the system trust store is used
``users[].user.token``                    a bearer token
``users[].user.client-certificate-data``  inline client certificate and key (both or neither)
``users[].user.client-key-data``
``extensions``, ``preferences``,          carry no behaviour in client-go either; ignored
``contexts[].context.namespace``
========================================  ===========================================================

Everything else is refused with a reason and the field's path, e.g. ``users[0].user.exec``:
``exec`` and ``auth-provider`` (would run a command / a provider on TMC's host), ``tokenFile``,
``client-certificate``, ``client-key``, ``certificate-authority`` (files on TMC's host), ``username`` /
``password``, ``as`` / ``as-uid`` / ``as-groups`` / ``as-user-extra`` (impersonation), ``proxy-url``, an
``http://`` server, and ``insecure-skip-tls-verify: true``. Decision on the last one: refused. TMC sends the
tenant's credential to the server; without verification anyone on the path between TMC and the cluster can
read it and answer as the cluster. A self-signed cluster works by putting its CA in
``certificate-authority-data``; ``insecure-skip-tls-verify: false`` is accepted (it changes nothing).
Every entry of ``clusters`` and ``users`` is checked, used by the current context or not.

Addresses (``AddressPolicy``): the server is tenant-controlled, TMC connects from inside the operator's
network, so by default TMC refuses loopback, link-local (169.254.0.0/16 with cloud metadata services,
fe80::/10), unspecified (0.0.0.0/8, ::) and multicast addresses, and always kcp's own address (host and
port). The check runs on the *resolved* addresses (``getaddrinfo``, async) at every new connection, and TMC
connects to exactly the address it checked, so a DNS answer that changes between check and connect (DNS
rebinding) cannot slip through. Operators allow ranges with ``allowed_cidrs`` (``tmc controller
--allow-cluster-cidr``); the embedded environment and the e2e tests allow loopback for their local clusters.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml

from tmc.clusters.errors import AddressNotAllowed, CredentialsRefused
from tmc.errors import ConfigError
from tmc.kcp.kubeconfig import ClusterAccess

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Fields refused by name, with the reason and what the tenant should know. Anything not allowed and not
# listed here is refused as FieldNotAllowed.
_FILE = ("FileReferenceNotAllowed", "it names a file on TMC's host; put the content inline in the *-data field")
_IMPERSONATION = ("ImpersonationNotAllowed", "impersonation is not allowed; give the identity's own credential")
REFUSED_FIELDS: dict[str, tuple[str, str]] = {
    "exec": ("ExecPluginNotAllowed", "credential plugins would run a command on TMC's host; use a token"),
    "auth-provider": ("AuthProviderNotAllowed", "auth providers are not allowed; use a token or client certificate"),
    "tokenFile": _FILE,
    "client-certificate": _FILE,
    "client-key": _FILE,
    "certificate-authority": _FILE,
    "username": ("BasicAuthNotAllowed", "basic authentication is not allowed; use a token or client certificate"),
    "password": ("BasicAuthNotAllowed", "basic authentication is not allowed; use a token or client certificate"),
    "as": _IMPERSONATION,
    "as-uid": _IMPERSONATION,
    "as-groups": _IMPERSONATION,
    "as-user-extra": _IMPERSONATION,
    "impersonate": _IMPERSONATION,
    "impersonate-uid": _IMPERSONATION,
    "impersonate-groups": _IMPERSONATION,
    "impersonate-user-extra": _IMPERSONATION,
    "proxy-url": ("ProxyNotAllowed", "proxies are not allowed; TMC connects to the server directly"),
    "insecure-skip-tls-verify": (
        "InsecureTLSNotAllowed",
        "TLS verification cannot be skipped (the credential would be exposed); set certificate-authority-data",
    ),
}
_TOP_LEVEL = frozenset({"apiVersion", "kind", "clusters", "users", "contexts", "current-context", "preferences"})
_CLUSTER_FIELDS = frozenset({"server", "certificate-authority-data", "extensions"})
_USER_FIELDS = frozenset({"token", "client-certificate-data", "client-key-data", "extensions"})
_CONTEXT_FIELDS = frozenset({"cluster", "user", "namespace", "extensions"})
_ENTRY_FIELDS = {"clusters": "cluster", "users": "user", "contexts": "context"}
_SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def check_kubeconfig(text: str, *, source: str = "kubeconfig") -> ClusterAccess:
    """The ``ClusterAccess`` of a tenant kubeconfig's current context, or ``CredentialsRefused`` naming the field.

    Messages name fields, never values: a credential never ends up in a condition.
    """
    try:
        config = yaml.load(text, Loader=_SAFE_LOADER)  # a safe loader: libyaml's when present
    except (yaml.YAMLError, RecursionError):
        raise CredentialsRefused("InvalidKubeconfig", f"{source}: not valid YAML") from None
    if not isinstance(config, dict):
        raise CredentialsRefused("InvalidKubeconfig", f"{source}: expected a kubeconfig with clusters, users, contexts")
    _check_fields(config, _TOP_LEVEL | {"extensions"}, "", source)
    entries: dict[str, dict[str, tuple[str, dict[str, Any]]]] = {}
    for list_name, entry_field in _ENTRY_FIELDS.items():
        entries[list_name] = _entries(config.get(list_name), list_name, entry_field, source)
    context_name = config.get("current-context")
    if not isinstance(context_name, str) or not context_name:
        raise CredentialsRefused("InvalidKubeconfig", f"{source}: current-context is empty")
    context = _lookup(entries["contexts"], context_name, "contexts", source)[1]
    cluster_path, cluster = _lookup(entries["clusters"], str(context.get("cluster", "")), "clusters", source)
    user_path, user = (
        _lookup(entries["users"], str(context["user"]), "users", source) if context.get("user") else ("", {})
    )
    server = _server(cluster.get("server"), f"{cluster_path}.server", source)
    token = user.get("token")
    if token is not None and (not isinstance(token, str) or not token.isprintable() or not token.strip()):
        raise CredentialsRefused("InvalidKubeconfig", f"{source}: {user_path}.token must be a printable string")
    cert = _data(user, "client-certificate-data", user_path, source)
    key = _data(user, "client-key-data", user_path, source)
    if (cert is None) != (key is None):
        raise CredentialsRefused(
            "InvalidKubeconfig",
            f"{source}: {user_path} needs both client-certificate-data and client-key-data, or neither",
        )
    ca = _data(cluster, "certificate-authority-data", cluster_path, source)
    access = ClusterAccess(
        server=server,
        ca_data=ca,
        token=token.strip() if isinstance(token, str) else None,
        client_cert_data=cert,
        client_key_data=key,
    )
    _check_tls(access, f"{cluster_path}.certificate-authority-data", user_path, source)
    return access


def _check_tls(access: ClusterAccess, ca_field: str, user_path: str, source: str) -> None:
    """The CA and client pair must load the way the cluster's client loads them: refused here, with the field
    named, rather than failing every time a client is built from them."""
    if access.ca_data is not None:
        try:
            ssl.create_default_context(cadata=access.ca_data.decode())
        except (ssl.SSLError, ValueError):
            raise CredentialsRefused("InvalidKubeconfig", f"{source}: {ca_field} is not a PEM CA certificate") from None
    if access.client_cert_data is not None:
        try:
            access.ssl_context()
        except (ssl.SSLError, ValueError, OSError):
            raise CredentialsRefused(
                "InvalidKubeconfig",
                f"{source}: {user_path}.client-certificate-data and {user_path}.client-key-data are not a matching"
                " PEM certificate and private key",
            ) from None


def _entries(value: Any, list_name: str, entry_field: str, source: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """``name -> (field path, body)`` of one of the kubeconfig's lists; every body passes the allow-list."""
    if value is None:
        return {}
    if not isinstance(value, list):
        raise CredentialsRefused("InvalidKubeconfig", f"{source}: {list_name} must be a list")
    allowed = {"clusters": _CLUSTER_FIELDS, "users": _USER_FIELDS, "contexts": _CONTEXT_FIELDS}[list_name]
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for index, entry in enumerate(value):
        where = f"{list_name}[{index}]"
        if not isinstance(entry, dict):
            raise CredentialsRefused("InvalidKubeconfig", f"{source}: {where} must be a mapping")
        _check_fields(entry, frozenset({"name", entry_field}), f"{where}.", source)
        body = entry.get(entry_field) or {}
        if not isinstance(body, dict):
            raise CredentialsRefused("InvalidKubeconfig", f"{source}: {where}.{entry_field} must be a mapping")
        path = f"{where}.{entry_field}"
        _check_fields(body, allowed, f"{path}.", source)
        found[str(entry.get("name", ""))] = (path, body)
    return found


def _check_fields(mapping: dict[Any, Any], allowed: frozenset[str], prefix: str, source: str) -> None:
    for field in mapping:
        name = str(field)
        if name in allowed:
            continue
        if name == "insecure-skip-tls-verify" and mapping[field] is False:
            continue  # explicitly off: the same as absent
        reason, why = REFUSED_FIELDS.get(name, ("FieldNotAllowed", "only server, CA, token and client certificate"))
        raise CredentialsRefused(reason, f"{source}: field {prefix}{name} is refused: {why}")


def _lookup(
    entries: dict[str, tuple[str, dict[str, Any]]], name: str, list_name: str, source: str
) -> tuple[str, dict[str, Any]]:
    try:
        return entries[name]
    except KeyError:
        raise CredentialsRefused("InvalidKubeconfig", f"{source}: no entry named {name!r} in {list_name}") from None


def _server(value: Any, field: str, source: str) -> str:
    if not isinstance(value, str) or not value:
        raise CredentialsRefused("InvalidServer", f"{source}: {field} must be an https:// URL")
    try:
        url = urlsplit(value)
        port = url.port
    except ValueError:
        raise CredentialsRefused("InvalidServer", f"{source}: {field} is not a valid URL") from None
    if url.scheme == "http":
        raise CredentialsRefused(
            "PlainHTTPNotAllowed", f"{source}: {field} uses http://; the credential would travel in clear text"
        )
    if url.scheme != "https" or not url.hostname:
        raise CredentialsRefused("InvalidServer", f"{source}: {field} must be an https:// URL with a host")
    if url.username is not None or url.password is not None or url.query or url.fragment:
        raise CredentialsRefused("InvalidServer", f"{source}: {field} may not carry user info, a query or a fragment")
    if port == 0:
        raise CredentialsRefused("InvalidServer", f"{source}: {field} has port 0")
    try:
        httpx.URL(value)  # what the cluster's client parses it with: IDNA host names, no control characters
    except httpx.InvalidURL:
        raise CredentialsRefused("InvalidServer", f"{source}: {field} is not a valid URL") from None
    return value.rstrip("/")


def _data(section: dict[str, Any], field: str, path: str, source: str) -> bytes | None:
    value = section.get(field)
    if value is None:
        return None
    try:
        decoded = base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raise CredentialsRefused("InvalidKubeconfig", f"{source}: {path}.{field} is not valid base64") from None
    return decoded or None


# -- addresses ------------------------------------------------------------------------------------------

_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")


def refused_category(address: IPAddress) -> str | None:
    """Which default-refused kind of address this is (``None``: allowed by default)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return "a loopback"
    if address.is_link_local:
        return "a link-local (cloud metadata)"
    if address.is_unspecified or (isinstance(address, ipaddress.IPv4Address) and address in _THIS_NETWORK):
        return "an unspecified"
    if address.is_multicast:
        return "a multicast"
    return None


def _unmapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """Which resolved addresses TMC may connect to on a tenant's behalf (see the module docstring)."""

    allowed: tuple[IPNetwork, ...] = ()
    denied_endpoints: frozenset[tuple[IPAddress, int]] = frozenset()

    @classmethod
    def parse(cls, allowed_cidrs: Iterable[str], *, option: str = "--allow-cluster-cidr") -> AddressPolicy:
        networks = []
        for cidr in allowed_cidrs:
            try:
                networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
            except ValueError:
                raise ConfigError(f"{option} {cidr!r} is not a CIDR such as 127.0.0.0/8 or ::1/128") from None
        return cls(tuple(networks))

    def denying(self, endpoints: Iterable[tuple[str, int]]) -> AddressPolicy:
        """This policy, also refusing these (IP, port) pairs whatever the allowed ranges say (kcp itself)."""
        extra = {(_unmapped(ipaddress.ip_address(host.split("%", 1)[0])), port) for host, port in endpoints}
        return AddressPolicy(self.allowed, self.denied_endpoints | extra)

    def refusal(self, address: IPAddress, port: int) -> str | None:
        """Why connecting to ``address:port`` is refused, or ``None``."""
        address = _unmapped(address)
        if (address, port) in self.denied_endpoints:
            return "kcp's own"
        if any(address.version == net.version and address in net for net in self.allowed):
            return None
        return refused_category(address)

    async def resolve(self, host: str, port: int) -> list[str]:
        """Every address ``host`` resolves to, if all are allowed; else ``AddressNotAllowed``.

        All must pass: a name resolving to one public and one metadata address is refused, so which one a
        connection picks cannot matter.
        """
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise OSError(f"cannot resolve {host}: {exc}") from None
        addresses: list[str] = []
        for _family, _type, _proto, _canon, sockaddr in infos:
            text = str(sockaddr[0])
            address = ipaddress.ip_address(text.split("%", 1)[0])
            category = self.refusal(address, port)
            if category is not None:
                what = host if _is_literal(host) else f"{host} (resolved)"
                raise AddressNotAllowed(
                    f"the server {what} is {category} address, which TMC does not connect to for tenants;"
                    " an operator may allow a range with --allow-cluster-cidr"
                )
            if text not in addresses:
                addresses.append(text)
        return addresses


async def resolve_endpoints(urls: Iterable[str]) -> list[tuple[str, int]]:
    """(IP, port) of each URL's host, for ``AddressPolicy.denying`` (kcp's own addresses)."""
    loop = asyncio.get_running_loop()
    found: list[tuple[str, int]] = []
    for url in urls:
        parts = urlsplit(url)
        if not parts.hostname:
            continue
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            infos = await loop.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
        except socket.gaierror:
            continue
        found.extend((str(info[4][0]), port) for info in infos)
    return found


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True
