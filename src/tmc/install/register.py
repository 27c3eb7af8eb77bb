"""Registering a physical cluster in a tenant workspace: its kubeconfig Secret and its ``ClusterRegistration``.

Used by ``tmc register`` (after the CLI has checked the kubeconfig with the controller's own policy) and by
``tmc up`` for its local clusters. Idempotent and convergent, like ``kubectl apply`` of the two objects: a
missing object is created, a differing one is updated (the Secret's kubeconfig replaced; the registration's
``spec`` fields TMC's CLI sets and the given labels merged), an equal one is left alone, and the report says
which (``created`` / ``updated`` / ``unchanged``). Labels not named are kept, so labels an owner added by hand
survive a re-registration.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from tmc.api import CLUSTER_REGISTRATION, ClusterRegistration
from tmc.api._base import DNS_SUBDOMAIN_MAX, DNS_SUBDOMAIN_PATTERN
from tmc.errors import ConfigError, NotFoundError
from tmc.kcp.paths import LogicalClusterPath
from tmc.kcp.resources import SECRETS, resource_of
from tmc.kcp.rest import JSON, KubeClient

REGISTRATIONS = resource_of(CLUSTER_REGISTRATION)
SECRET_KEY = "kubeconfig"
FIELD_MANAGER = "tmc-register"


@dataclass(frozen=True, slots=True)
class ClusterSpec:
    """What the owner says about a cluster; ``kubeconfig`` is the text stored in the Secret."""

    name: str
    kubeconfig: str
    location: str
    labels: Mapping[str, str]
    capabilities: Sequence[str] = ("compute",)
    secret_namespace: str = "default"

    @property
    def secret_name(self) -> str:
        return f"{self.name}-kubeconfig"


def secret_body(spec: ClusterSpec) -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": spec.secret_name, "namespace": spec.secret_namespace},
        "type": "Opaque",
        "data": {SECRET_KEY: base64.b64encode(spec.kubeconfig.encode()).decode()},
    }


def registration_body(spec: ClusterSpec) -> JSON:
    """The registration, checked against the API's own model: a bad name, location or label fails here,
    naming the field, before anything is written."""
    if not re.match(DNS_SUBDOMAIN_PATTERN, spec.name) or len(spec.name) > DNS_SUBDOMAIN_MAX - len("-kubeconfig"):
        raise ConfigError(f"cluster name {spec.name!r} must be a lowercase DNS name such as us-west-1")
    body: JSON = {
        "apiVersion": REGISTRATIONS.api_version,
        "kind": REGISTRATIONS.kind,
        "metadata": {"name": spec.name, "labels": dict(spec.labels)},
        "spec": {
            "location": spec.location,
            "capabilities": [{"type": capability, "available": True} for capability in spec.capabilities],
            "kubeconfigSecretRef": {"namespace": spec.secret_namespace, "name": spec.secret_name, "key": SECRET_KEY},
        },
    }
    try:
        ClusterRegistration.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigError(f"cluster registration {spec.name!r}: {where}: {first['msg']}") from None
    return body


async def register_cluster(
    client: KubeClient, workspace: LogicalClusterPath, spec: ClusterSpec
) -> list[tuple[str, str]]:
    """Create or update the Secret, then the registration; ``[(object, created|updated|unchanged)]``."""
    registration = registration_body(spec)  # validate before the first write
    secret = secret_body(spec)
    report = [(f"secret {spec.secret_namespace}/{spec.secret_name}", await _ensure_secret(client, workspace, secret))]
    report.append((f"clusterregistration {spec.name}", await _ensure_registration(client, workspace, registration)))
    return report


async def _ensure_secret(client: KubeClient, workspace: LogicalClusterPath, secret: JSON) -> str:
    meta = secret["metadata"]
    try:
        current = await client.get(SECRETS, meta["name"], cluster=workspace, namespace=meta["namespace"])
    except NotFoundError:
        await client.create(SECRETS, secret, cluster=workspace, namespace=meta["namespace"])
        return "created"
    if (current.get("data") or {}).get(SECRET_KEY) == secret["data"][SECRET_KEY]:
        return "unchanged"
    await client.merge_patch(
        SECRETS,
        meta["name"],
        {"data": secret["data"]},
        cluster=workspace,
        namespace=meta["namespace"],
        field_manager=FIELD_MANAGER,
    )
    return "updated"


async def _ensure_registration(client: KubeClient, workspace: LogicalClusterPath, registration: JSON) -> str:
    name = registration["metadata"]["name"]
    try:
        current = await client.get(REGISTRATIONS, name, cluster=workspace)
    except NotFoundError:
        await client.create(REGISTRATIONS, registration, cluster=workspace)
        return "created"
    labels = current["metadata"].get("labels") or {}
    wanted_labels = registration["metadata"]["labels"]
    spec = current.get("spec") or {}
    spec_differs = any(spec.get(field) != value for field, value in registration["spec"].items())
    labels_differ = any(labels.get(key) != value for key, value in wanted_labels.items())
    if not spec_differs and not labels_differ:
        return "unchanged"
    await client.merge_patch(
        REGISTRATIONS,
        name,
        {"metadata": {"labels": wanted_labels}, "spec": registration["spec"]},
        cluster=workspace,
        field_manager=FIELD_MANAGER,
    )
    return "updated"
