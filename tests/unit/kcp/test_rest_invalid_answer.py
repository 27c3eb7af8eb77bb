"""A 2xx answer that is not a JSON object (a proxy's page, a hostile cluster) is an ApiError, never a crash."""

from __future__ import annotations

import httpx
import pytest

from tmc.clusters.probe import FactsProblem, read_facts
from tmc.errors import ApiError
from tmc.kcp.kubeconfig import ClusterAccess
from tmc.kcp.rest import KubeClient


def answering(response: httpx.Response) -> KubeClient:
    return KubeClient(
        ClusterAccess(server="https://cluster.example:6443"), transport=httpx.MockTransport(lambda _: response)
    )


@pytest.mark.parametrize(
    "response",
    [
        pytest.param(httpx.Response(200, text="<html>welcome</html>"), id="an html page"),
        pytest.param(httpx.Response(200, json=["a", "list"]), id="json that is not an object"),
    ],
)
async def test_an_answer_that_is_not_a_json_object_is_an_api_error_naming_the_request(
    response: httpx.Response,
) -> None:
    async with answering(response) as client:
        with pytest.raises(ApiError) as refused:
            await client.request("GET", "/version")
    assert (refused.value.reason, refused.value.status_code) == ("InvalidResponse", 200)
    assert "GET /version" in refused.value.message


async def test_a_cluster_answering_garbage_gives_a_facts_problem_not_a_failed_probe() -> None:
    async with answering(httpx.Response(200, text="ok")) as client:
        problem = await read_facts(client, timeout=1.0)
    assert isinstance(problem, FactsProblem)
    assert (problem.reason, problem.message) == ("DiscoveryFailed", "GET /version: the answer is not a JSON object")
