"""Why a physical cluster cannot be used, as one exception family with a Kubernetes-style reason.

    tmc.errors.TMCError
    +-- ClusterUnavailable          reason + message, safe to show a tenant (no credential, bounded)
        +-- CredentialsRefused      the kubeconfig Secret is missing, unreadable or breaks the tenant policy
        +-- AddressNotAllowed       the server resolves to an address TMC may not connect to

``reason`` is CamelCase and stable (it becomes a condition reason); ``message`` names the field at fault.
"""

from __future__ import annotations

from tmc.errors import TMCError

ADDRESS_NOT_ALLOWED = "ServerAddressNotAllowed"


class ClusterUnavailable(TMCError):
    """The registration's cluster cannot be used now; ``reason`` says why in one word."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class CredentialsRefused(ClusterUnavailable):
    """The user must fix the kubeconfig Secret (or its reference); retrying the same input cannot help."""


class AddressNotAllowed(ClusterUnavailable):
    """The server address (as resolved now) is refused by the operator's address policy."""

    def __init__(self, message: str) -> None:
        super().__init__(ADDRESS_NOT_ALLOWED, message)
