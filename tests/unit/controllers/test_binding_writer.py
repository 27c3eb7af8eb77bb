"""BindingWriter against a kcp that refuses the create: a namespace being deleted is no error, anything else is."""

from __future__ import annotations

from typing import Any, cast

import pytest

from tmc.controllers.workloadplacement.bindings import BindingWriter, DesiredBinding
from tmc.errors import ForbiddenError
from tmc.kcp.paths import LogicalClusterPath
from tmc.kcp.rest import KubeClient

WORKLOAD = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "going"}}


class RefusingKcp:
    def __init__(self, refusal: ForbiddenError) -> None:
        self.refusal = refusal
        self.events = 0

    async def create(self, resource: Any, body: dict[str, Any], **_: Any) -> dict[str, Any]:
        if resource.kind == "Event":
            self.events += 1
            return body
        raise self.refusal


def _forbidden(*causes: str) -> ForbiddenError:
    details = {"causes": [{"reason": c, "field": "metadata.namespace"} for c in causes]}
    return ForbiddenError(403, "Forbidden", "unable to create new content in namespace going", details)


async def test_a_namespace_being_deleted_is_nothing_to_place_into() -> None:
    kcp = RefusingKcp(_forbidden("NamespaceTerminating"))
    writer = BindingWriter(cast(KubeClient, kcp))
    desired = [DesiredBinding(WORKLOAD, (("a", 1),), None)]

    await writer.converge(LogicalClusterPath("root:t"), "going", "spread", desired, [])

    assert kcp.events == 0, "nothing was placed, so no Placed event"


async def test_any_other_refusal_fails_the_reconcile() -> None:
    writer = BindingWriter(cast(KubeClient, RefusingKcp(_forbidden())))
    with pytest.raises(ForbiddenError):
        await writer.converge(
            LogicalClusterPath("root:t"), "going", "spread", [DesiredBinding(WORKLOAD, (("a", 1),), None)], []
        )
