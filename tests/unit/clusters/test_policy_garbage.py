"""Garbage in a tenant's kubeconfig Secret: refused by the policy naming the field, never an exception later.

What the policy lets through is what the directory builds a TLS client from; anything a client cannot be built
from must be refused here, as a condition on the registration, instead of failing in every reconcile.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tmc.clusters import AddressPolicy, CredentialsRefused, check_kubeconfig
from tmc.clusters.transport import cluster_client
from tmc.local.certs import generate_serving_pki

PKI = generate_serving_pki("garbage-test")
TOKEN = "tok-3f9a1c-never-shown"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def kubeconfig(cluster: dict[str, Any] | None = None, user: dict[str, Any] | None = None) -> str:
    return yaml.safe_dump(
        {
            "clusters": [{"name": "c", "cluster": {"server": "https://cluster.example:6443", **(cluster or {})}}],
            "users": [{"name": "u", "user": {"token": TOKEN, **(user or {})}}],
            "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "x",
        }
    )


# (id, cluster fields, user fields, reason, field named)
GARBAGE: list[tuple[str, dict[str, Any], dict[str, Any], str, str]] = [
    (
        "a CA that is base64 of no certificate",
        {"certificate-authority-data": _b64(b"garbage")},
        {},
        "InvalidKubeconfig",
        "clusters[0].cluster.certificate-authority-data",
    ),
    (
        "a CA that is not text",
        {"certificate-authority-data": _b64(b"\xff\xfe\x00binary")},
        {},
        "InvalidKubeconfig",
        "clusters[0].cluster.certificate-authority-data",
    ),
    (
        "a CA with PEM markers around nothing",
        {"certificate-authority-data": _b64(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")},
        {},
        "InvalidKubeconfig",
        "clusters[0].cluster.certificate-authority-data",
    ),
    (
        "a client certificate and key that are not PEM",
        {},
        {"client-certificate-data": _b64(b"cert"), "client-key-data": _b64(b"key")},
        "InvalidKubeconfig",
        "users[0].user.client-certificate-data",
    ),
    (
        "a client certificate with a key that is not PEM",
        {},
        {"client-certificate-data": _b64(PKI.cert), "client-key-data": _b64(b"key")},
        "InvalidKubeconfig",
        "users[0].user.client-key-data",
    ),
    (
        "a server host that is not a valid IDNA name",
        {"server": "https://\u2603.example:6443"},
        {},
        "InvalidServer",
        "clusters[0].cluster.server",
    ),
    (
        "a server with a control character",
        {"server": "https://cluster\t.example:6443"},
        {},
        "InvalidServer",
        "clusters[0].cluster.server",
    ),
    (
        "a server with a port past 65535",
        {"server": "https://cluster.example:70000"},
        {},
        "InvalidServer",
        "clusters[0].cluster.server",
    ),
    (
        "a server that is an IPv6 literal without its bracket",
        {"server": "https://[::1:6443"},
        {},
        "InvalidServer",
        "clusters[0].cluster.server",
    ),
]


@pytest.mark.parametrize(("cluster", "user", "reason", "field"), [g[1:] for g in GARBAGE], ids=[g[0] for g in GARBAGE])
def test_garbage_is_refused_naming_the_field(
    cluster: dict[str, Any], user: dict[str, Any], reason: str, field: str
) -> None:
    with pytest.raises(CredentialsRefused) as refused:
        check_kubeconfig(kubeconfig(cluster, user), source="Secret default/k key 'kubeconfig'")
    assert refused.value.reason == reason
    assert field in refused.value.message
    assert TOKEN not in refused.value.message


def test_real_tls_material_is_accepted_and_a_client_can_be_built_from_it() -> None:
    access = check_kubeconfig(
        kubeconfig(
            {"certificate-authority-data": _b64(PKI.ca_cert)},
            {"client-certificate-data": _b64(PKI.cert), "client-key-data": _b64(PKI.key)},
        )
    )
    assert access.ca_data == PKI.ca_cert
    cluster_client(access, AddressPolicy())  # what the directory does with it


# Garbage of every shape in the places a kubeconfig has: whatever it is, the policy either refuses it or returns
# an access a client can be built from. Nothing else may escape (it would escape from every reconcile).
_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=40), st.binary(max_size=40)
)
_values = st.recursive(
    _scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
)
_fields = st.sampled_from(
    [
        ("cluster", "server"),
        ("cluster", "certificate-authority-data"),
        ("user", "token"),
        ("user", "client-certificate-data"),
        ("user", "client-key-data"),
        ("context", "cluster"),
        ("context", "user"),
        ("top", "current-context"),
        ("top", "clusters"),
        ("top", "users"),
        ("top", "contexts"),
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_fields, _values), max_size=3))
def test_any_garbage_in_any_field_is_refused_or_makes_a_working_client(
    changes: list[tuple[tuple[str, str], Any]],
) -> None:
    config: dict[str, Any] = yaml.safe_load(kubeconfig())
    sections = {
        "cluster": config["clusters"][0]["cluster"],
        "user": config["users"][0]["user"],
        "context": config["contexts"][0]["context"],
        "top": config,
    }
    for (where, field), value in changes:
        sections[where][field] = _b64(value) if isinstance(value, bytes) else value
    try:
        text = yaml.safe_dump(config)
    except yaml.YAMLError:
        return
    try:
        access = check_kubeconfig(text)
    except CredentialsRefused as refused:
        message = refused.message
    else:
        cluster_client(access, AddressPolicy())
        return
    assert TOKEN not in message


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_is_refused_or_makes_a_working_client(text: str) -> None:
    try:
        access = check_kubeconfig(text)
    except CredentialsRefused:
        return
    cluster_client(access, AddressPolicy())
