"""A 429 that names a Retry-After is sent again after it (kcp's storage re-initializing after a restart)."""

from __future__ import annotations

import httpx
import pytest

from tmc.errors import ApiError
from tmc.kcp.kubeconfig import ClusterAccess
from tmc.kcp.resources import NAMESPACES
from tmc.kcp.rest import RETRY_AFTER_ATTEMPTS, KubeClient

INITIALIZING = {"kind": "Status", "code": 429, "reason": "TooManyRequests", "message": "storage is (re)initializing"}
LISTING = {"kind": "NamespaceList", "metadata": {"resourceVersion": "7"}, "items": []}


def client_answering(answers: list[httpx.Response], sent: list[httpx.Request]) -> KubeClient:
    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return answers.pop(0) if len(answers) > 1 else answers[0]

    return KubeClient(ClusterAccess(server="https://kcp.example:6443"), transport=httpx.MockTransport(handler))


def too_many(retry_after: str | None = "0") -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return httpx.Response(429, json=INITIALIZING, headers=headers)


async def test_a_429_with_retry_after_is_sent_again_until_the_server_answers() -> None:
    sent: list[httpx.Request] = []
    async with client_answering([too_many(), too_many(), httpx.Response(200, json=LISTING)], sent) as client:
        assert await client.list(NAMESPACES) == LISTING
    assert len(sent) == 3


async def test_a_429_without_retry_after_is_the_callers() -> None:
    sent: list[httpx.Request] = []
    async with client_answering([too_many(retry_after=None), httpx.Response(200, json=LISTING)], sent) as client:
        with pytest.raises(ApiError) as refused:
            await client.list(NAMESPACES)
    assert refused.value.status_code == 429
    assert len(sent) == 1


async def test_a_server_that_keeps_refusing_is_given_up_on() -> None:
    sent: list[httpx.Request] = []
    async with client_answering([too_many()], sent) as client:
        with pytest.raises(ApiError) as refused:
            await client.list(NAMESPACES)
    assert "initializing" in refused.value.message
    assert len(sent) == RETRY_AFTER_ATTEMPTS
