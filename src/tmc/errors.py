"""All TMC exceptions.

    TMCError
    +-- LocalServerError        a local kcp / etcd / kube-apiserver failed to build, start or answer
    +-- ConfigError             a kubeconfig or flag is unusable (names the field or file)
    +-- ApiError                the API server answered with a Kubernetes Status error
    |   +-- BadRequestError     400 (e.g. an unknown field under strict field validation)
    |   +-- NotFoundError       404
    |   +-- ConflictError       409 (AlreadyExists or a resourceVersion conflict)
    |   +-- GoneError           410: a watch's resourceVersion is too old; relist
    |   +-- InvalidError        422: the object was rejected; ``causes`` name the fields
    |   +-- ForbiddenError      403
    +-- TerminalError           a reconcile failed in a way that retrying cannot fix

Lower-level exceptions (httpx) are translated in ``tmc.kcp.rest`` only.
"""

from __future__ import annotations

from typing import Any


class TMCError(Exception):
    """Base class of every error TMC raises on purpose."""


class LocalServerError(TMCError):
    pass


class ConfigError(TMCError):
    pass


class TerminalError(TMCError):
    """Raised by a reconciler for a problem that a retry cannot fix; logged and counted, not requeued."""


class ApiError(TMCError):
    def __init__(self, status_code: int, reason: str, message: str, details: dict[str, Any] | None = None):
        super().__init__(f"{status_code} {reason}: {message}")
        self.status_code = status_code
        self.reason = reason
        self.message = message
        self.details = details or {}

    @property
    def causes(self) -> list[dict[str, Any]]:
        causes: list[dict[str, Any]] = self.details.get("causes", [])
        return causes


class BadRequestError(ApiError):
    pass


class NotFoundError(ApiError):
    pass


class ConflictError(ApiError):
    pass


class GoneError(ApiError):
    pass


class InvalidError(ApiError):
    pass


class ForbiddenError(ApiError):
    pass
