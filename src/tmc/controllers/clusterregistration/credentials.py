"""Reading a registration's kubeconfig Secret from the registration's own workspace only.

The Secret is fetched through the APIExport virtual workspace at the registration's logical cluster, so a
registration can never use a Secret of another tenant, and only where the tenant accepted TMC's permission
claim on Secrets. Outcomes a user can fix are returned as ``CredentialProblem``; messages name the Secret and
the field, never the content.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from tmc.errors import ApiError, ConfigError, ForbiddenError, NotFoundError
from tmc.kcp.kubeconfig import ClusterAccess, parse_kubeconfig
from tmc.kcp.paths import LogicalClusterPath
from tmc.kcp.resources import SECRETS
from tmc.kcp.rest import JSON, KubeClient


@dataclass(frozen=True, slots=True)
class CredentialProblem:
    reason: str
    message: str


async def load_cluster_access(
    client: KubeClient, cluster: LogicalClusterPath, registration: JSON
) -> ClusterAccess | CredentialProblem:
    ref = registration.get("spec", {}).get("kubeconfigSecretRef")
    if not ref:
        return CredentialProblem(
            "NoKubeconfigSecretRef",
            "spec.kubeconfigSecretRef is not set: create a Secret with the cluster's kubeconfig in this workspace"
            " and reference it (namespace, name, key)",
        )
    namespace, name, key = ref.get("namespace", ""), ref.get("name", ""), ref.get("key") or "kubeconfig"
    where = f"Secret {namespace}/{name}"
    try:
        secret = await client.get(SECRETS, name, cluster=cluster, namespace=namespace)
    except NotFoundError as exc:
        if exc.details.get("name") == name:
            return CredentialProblem(
                "SecretNotFound", f"{where} (spec.kubeconfigSecretRef) does not exist in this workspace"
            )
        # The virtual workspace does not serve secrets at all for this workspace: the claim was not accepted.
        return _claim_not_accepted(where)
    except ForbiddenError:
        return _claim_not_accepted(where)
    except ApiError as exc:
        return CredentialProblem("SecretUnreadable", f"reading {where} failed: {exc.reason}")
    encoded = secret.get("data", {}).get(key)
    if not encoded:
        return CredentialProblem(
            "KubeconfigKeyMissing", f"{where} has no data key {key!r} (spec.kubeconfigSecretRef.key)"
        )
    try:
        text = base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return CredentialProblem("InvalidKubeconfig", f"{where} key {key!r} is not valid base64-encoded text")
    try:
        return parse_kubeconfig(text, source=f"{where} key {key!r}")
    except ConfigError as exc:
        return CredentialProblem("InvalidKubeconfig", str(exc))


def _claim_not_accepted(where: str) -> CredentialProblem:
    return CredentialProblem(
        "SecretsClaimNotAccepted",
        f"TMC may not read {where}: this workspace's APIBinding to tmc.kcp.io does not accept the permission"
        " claim on secrets; run `tmc bind <workspace>` or accept the claim in spec.permissionClaims",
    )
