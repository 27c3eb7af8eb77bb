"""Tenant kubeconfig policy and address policy: every refused field, by name, with its reason."""

from __future__ import annotations

import base64
import ipaddress
from typing import Any

import pytest
import yaml

from tmc.clusters import AddressNotAllowed, AddressPolicy, CredentialsRefused, check_kubeconfig
from tmc.clusters.policy import refused_category
from tmc.errors import ConfigError
from tmc.local.certs import generate_serving_pki

# Real TLS material: the policy refuses what a client cannot be built from (test_policy_garbage.py).
PKI = generate_serving_pki("policy-test")
CA = base64.b64encode(PKI.ca_cert).decode()
CERT = base64.b64encode(PKI.cert).decode()
KEY = base64.b64encode(PKI.key).decode()


def kubeconfig(
    cluster: dict[str, Any] | None = None, user: dict[str, Any] | None = None, top: dict[str, Any] | None = None
) -> str:
    config: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://cluster.example:6443", **(cluster or {})}}],
        "users": [{"name": "u", "user": {"token": "secret-token", **(user or {})}}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "ctx",
        **(top or {}),
    }
    return yaml.safe_dump(config)


# (id, cluster fields, user fields, expected reason, field path named in the message)
REFUSED: list[tuple[str, dict[str, Any], dict[str, Any], str, str]] = [
    (
        "an exec credential plugin",
        {},
        {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "/bin/sh", "args": ["-c", "id"]}},
        "ExecPluginNotAllowed",
        "users[0].user.exec",
    ),
    (
        "an auth provider",
        {},
        {"auth-provider": {"name": "gcp"}},
        "AuthProviderNotAllowed",
        "users[0].user.auth-provider",
    ),
    ("a token file", {}, {"tokenFile": "/etc/shadow"}, "FileReferenceNotAllowed", "users[0].user.tokenFile"),
    (
        "a client certificate file",
        {},
        {"client-certificate": "/etc/tls.crt"},
        "FileReferenceNotAllowed",
        "users[0].user.client-certificate",
    ),
    ("a client key file", {}, {"client-key": "/etc/tls.key"}, "FileReferenceNotAllowed", "users[0].user.client-key"),
    (
        "a CA file",
        {"certificate-authority": "/etc/ca.crt"},
        {},
        "FileReferenceNotAllowed",
        "clusters[0].cluster.certificate-authority",
    ),
    ("a username", {}, {"username": "admin"}, "BasicAuthNotAllowed", "users[0].user.username"),
    ("a password", {}, {"password": "hunter2"}, "BasicAuthNotAllowed", "users[0].user.password"),
    ("impersonating a user", {}, {"as": "system:admin"}, "ImpersonationNotAllowed", "users[0].user.as"),
    ("impersonating a uid", {}, {"as-uid": "0"}, "ImpersonationNotAllowed", "users[0].user.as-uid"),
    (
        "impersonating groups",
        {},
        {"as-groups": ["system:masters"]},
        "ImpersonationNotAllowed",
        "users[0].user.as-groups",
    ),
    (
        "impersonating user extras",
        {},
        {"as-user-extra": {"scopes": ["all"]}},
        "ImpersonationNotAllowed",
        "users[0].user.as-user-extra",
    ),
    (
        "skipping TLS verification",
        {"insecure-skip-tls-verify": True},
        {},
        "InsecureTLSNotAllowed",
        "clusters[0].cluster.insecure-skip-tls-verify",
    ),
    ("a proxy", {"proxy-url": "http://proxy:3128"}, {}, "ProxyNotAllowed", "clusters[0].cluster.proxy-url"),
    ("a TLS server name", {"tls-server-name": "other"}, {}, "FieldNotAllowed", "clusters[0].cluster.tls-server-name"),
    ("an unknown user field", {}, {"secret-sauce": 1}, "FieldNotAllowed", "users[0].user.secret-sauce"),
    (
        "a plain http server",
        {"server": "http://cluster.example"},
        {},
        "PlainHTTPNotAllowed",
        "clusters[0].cluster.server",
    ),
    ("a server that is no URL", {"server": "cluster.example"}, {}, "InvalidServer", "clusters[0].cluster.server"),
    ("a file:// server", {"server": "file:///etc/passwd"}, {}, "InvalidServer", "clusters[0].cluster.server"),
    (
        "credentials in the server URL",
        {"server": "https://admin:pw@cluster.example"},
        {},
        "InvalidServer",
        "clusters[0].cluster.server",
    ),
    (
        "a CA that is not base64",
        {"certificate-authority-data": "%%%"},
        {},
        "InvalidKubeconfig",
        "certificate-authority-data",
    ),
    ("a certificate without its key", {}, {"client-certificate-data": CERT}, "InvalidKubeconfig", "users[0].user"),
]


@pytest.mark.parametrize(
    ("cluster", "user", "reason", "field"), [case[1:] for case in REFUSED], ids=[case[0] for case in REFUSED]
)
def test_a_tenant_kubeconfig_is_refused_naming_the_field(
    cluster: dict[str, Any], user: dict[str, Any], reason: str, field: str
) -> None:
    with pytest.raises(CredentialsRefused) as refused:
        check_kubeconfig(kubeconfig(cluster, user), source="Secret default/k key 'kubeconfig'")
    assert refused.value.reason == reason
    assert field in refused.value.message
    assert refused.value.message.startswith("Secret default/k key 'kubeconfig': ")
    for value in ("secret-token", "hunter2", "/etc/shadow", "system:admin"):
        assert value not in refused.value.message  # fields are named, values never shown


def test_an_unused_user_entry_is_checked_too() -> None:
    text = yaml.safe_load(kubeconfig())
    text["users"].append({"name": "spare", "user": {"exec": {"command": "touch"}}})
    with pytest.raises(CredentialsRefused) as refused:
        check_kubeconfig(yaml.safe_dump(text))
    assert refused.value.reason == "ExecPluginNotAllowed"
    assert "users[1].user.exec" in refused.value.message


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not yaml", "InvalidKubeconfig"),
        ("- a list", "InvalidKubeconfig"),
        (kubeconfig(top={"current-context": "missing"}), "InvalidKubeconfig"),
        (kubeconfig(top={"current-context": ""}), "InvalidKubeconfig"),
        (kubeconfig(top={"unknown-top": 1}), "FieldNotAllowed"),
    ],
    ids=["broken YAML", "not a mapping", "a context that does not exist", "no current context", "unknown top level"],
)
def test_a_malformed_kubeconfig_is_refused(text: str, reason: str) -> None:
    with pytest.raises(CredentialsRefused) as refused:
        check_kubeconfig(text)
    assert refused.value.reason == reason


def test_the_allowed_fields_make_a_cluster_access() -> None:
    access = check_kubeconfig(
        kubeconfig(
            {"certificate-authority-data": CA, "insecure-skip-tls-verify": False, "extensions": []},
            {"client-certificate-data": CERT, "client-key-data": KEY},
            top={"preferences": {}},
        )
    )
    assert access.server == "https://cluster.example:6443"
    assert access.token == "secret-token"
    assert access.ca_data is not None
    assert access.ca_data.startswith(b"-----BEGIN")
    assert (access.client_cert_data, access.client_key_data) == (PKI.cert, PKI.key)
    assert not access.insecure_skip_tls_verify
    assert "secret-token" not in repr(access)


def test_a_changed_credential_changes_the_fingerprint_and_an_equal_one_does_not() -> None:
    one = check_kubeconfig(kubeconfig())
    assert one.fingerprint() == check_kubeconfig(kubeconfig()).fingerprint()
    assert one.fingerprint() != check_kubeconfig(kubeconfig(user={"token": "other"})).fingerprint()
    assert one.fingerprint() != check_kubeconfig(kubeconfig({"server": "https://other:6443"})).fingerprint()


# -- addresses ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "category"),
    [
        ("127.0.0.1", "a loopback"),
        ("127.255.0.9", "a loopback"),
        ("::1", "a loopback"),
        ("::ffff:127.0.0.1", "a loopback"),
        ("169.254.169.254", "a link-local (cloud metadata)"),
        ("fe80::1", "a link-local (cloud metadata)"),
        ("0.0.0.0", "an unspecified"),
        ("0.1.2.3", "an unspecified"),
        ("::", "an unspecified"),
        ("224.0.0.1", "a multicast"),
        ("10.0.0.5", None),
        ("192.168.1.10", None),
        ("8.8.8.8", None),
        ("2001:db8::1", None),
    ],
)
def test_default_refused_address_categories(address: str, category: str | None) -> None:
    assert refused_category(ipaddress.ip_address(address)) == category


async def test_loopback_is_refused_by_default_and_allowed_by_an_operator_range() -> None:
    with pytest.raises(AddressNotAllowed) as refused:
        await AddressPolicy().resolve("127.0.0.1", 6443)
    assert refused.value.reason == "ServerAddressNotAllowed"
    assert "loopback" in refused.value.message
    assert "--allow-cluster-cidr" in refused.value.message
    assert await AddressPolicy.parse(["127.0.0.0/8"]).resolve("127.0.0.1", 6443) == ["127.0.0.1"]


async def test_a_name_is_checked_by_what_it_resolves_to() -> None:
    with pytest.raises(AddressNotAllowed) as refused:
        await AddressPolicy().resolve("localhost", 6443)
    assert "localhost (resolved)" in refused.value.message


async def test_cloud_metadata_is_refused_even_when_other_ranges_are_allowed() -> None:
    with pytest.raises(AddressNotAllowed):
        await AddressPolicy.parse(["127.0.0.0/8", "10.0.0.0/8"]).resolve("169.254.169.254", 80)


async def test_kcps_own_address_is_refused_whatever_is_allowed() -> None:
    policy = AddressPolicy.parse(["127.0.0.0/8"]).denying([("127.0.0.1", 6443)])
    with pytest.raises(AddressNotAllowed) as refused:
        await policy.resolve("127.0.0.1", 6443)
    assert "kcp's own" in refused.value.message
    assert await policy.resolve("127.0.0.1", 6444) == ["127.0.0.1"]  # another server on the same host


def test_a_bad_cidr_names_the_option() -> None:
    with pytest.raises(ConfigError, match="--allow-cluster-cidr 'not-a-cidr'"):
        AddressPolicy.parse(["not-a-cidr"])
