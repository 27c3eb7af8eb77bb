"""The runtime against a real kube-apiserver: an informer follows ConfigMaps through an apiserver restart,
and two Lease electors hand leadership over when the leader stops renewing."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from typing import Any

import pytest

from tmc.kcp.resources import CONFIGMAPS, LEASES, NAMESPACES
from tmc.kcp.rest import KubeClient
from tmc.runtime import Informer, LeaderElector, ObjectKey, RuntimeMetrics

from .conftest import ClusterFactory

pytestmark = pytest.mark.e2e

JSON = dict[str, Any]


# Only the test's own ConfigMaps: kube-controller-manager adds kube-root-ca.crt to every namespace.
OWN = "tmc.kcp.io/e2e=informer"


def configmap(name: str, namespace: str, value: str) -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": {"tmc.kcp.io/e2e": "informer"}},
        "data": {"value": value},
    }


class EventLog:
    """Handler events as ``(kind, name)``; ``seen`` waits for one without polling."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self._changed = asyncio.Event()

    def record(self, kind: str, obj: JSON) -> None:
        self.events.append((kind, obj["metadata"]["name"]))
        self._changed.set()

    async def seen(self, kind: str, name: str, *, within: float = 30.0) -> None:
        async def wait() -> None:
            while (kind, name) not in self.events:
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(wait(), within)
        except TimeoutError:
            message = f"no {kind} event for {name} within {within:.0f}s; saw {self.events}"
            raise AssertionError(message) from None


async def test_an_informer_lists_follows_changes_and_resumes_after_an_apiserver_restart(
    physical_clusters: ClusterFactory,
) -> None:
    cluster = await physical_clusters("runtime")
    async with KubeClient(cluster.access) as client:
        ns = f"rt-{secrets.token_hex(3)}"
        await client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        await client.create(CONFIGMAPS, configmap("existing", ns, "1"), namespace=ns)

        metrics = RuntimeMetrics()
        informer = Informer(
            client,
            CONFIGMAPS,
            namespace=ns,
            label_selector=OWN,
            page_size=1,
            resync_period=None,
            max_backoff=1.0,
            metrics=metrics,
        )
        log = EventLog()
        informer.add_handler(
            on_add=lambda obj: log.record("add", obj),
            on_update=lambda old, new: log.record("update", new),
            on_delete=lambda obj: log.record("delete", obj),
        )
        informer.start()
        try:
            await asyncio.wait_for(informer.has_synced.wait(), 30)
            assert ("add", "existing") in log.events
            assert informer.get(ObjectKey("", ns, "existing")) is not None

            await client.create(CONFIGMAPS, configmap("created", ns, "1"), namespace=ns)
            await log.seen("add", "created")
            await client.merge_patch(CONFIGMAPS, "created", {"data": {"value": "2"}}, namespace=ns)
            await log.seen("update", "created")
            cached = informer.get(ObjectKey("", ns, "created"))
            assert cached is not None
            assert cached["data"] == {"value": "2"}
            await client.delete(CONFIGMAPS, "existing", namespace=ns)
            await log.seen("delete", "existing")

            await cluster.stop_apiserver()
            await cluster.start_apiserver()
            await client.create(CONFIGMAPS, configmap("after-restart", ns, "1"), namespace=ns)
            await log.seen("add", "after-restart", within=60)
            assert [key.name for key in informer.list_keys()] == ["after-restart", "created"]
            restarts = metrics.registry.get_sample_value(
                "tmc_informer_watch_restarts_total", {"resource": "configmaps"}
            )
            assert restarts is not None
            assert restarts >= 1
        finally:
            await informer.stop()
            await client.delete(NAMESPACES, ns)


async def test_two_lease_electors_one_leads_and_the_other_takes_over_when_it_stops_renewing(
    physical_clusters: ClusterFactory,
) -> None:
    cluster = await physical_clusters("runtime")
    await cluster.start_apiserver()
    async with KubeClient(cluster.access) as client:
        lease_name = f"tmc-{secrets.token_hex(3)}"
        timings: dict[str, Any] = {"lease_duration": 3.0, "renew_deadline": 2.0, "retry_period": 0.25}
        # ``release_on_exit=False``: cancelling the first elector plays a crashed leader, not a handover.
        first = LeaderElector(
            client, name=lease_name, namespace="default", identity="first", release_on_exit=False, **timings
        )
        second = LeaderElector(client, name=lease_name, namespace="default", identity="second", **timings)
        leading: dict[str, asyncio.Event] = {"first": asyncio.Event(), "second": asyncio.Event()}

        def work(identity: str) -> Callable[[], Any]:
            async def lead() -> None:
                leading[identity].set()
                await asyncio.Event().wait()

            return lead

        first_task = asyncio.create_task(first.run(work("first")))
        second_task: asyncio.Task[None] | None = None
        try:
            await asyncio.wait_for(leading["first"].wait(), 10)
            second_task = asyncio.create_task(second.run(work("second")))
            await asyncio.sleep(2 * timings["lease_duration"])
            assert not leading["second"].is_set(), "a standby must not lead while the leader renews"
            assert first.is_leader

            first_task.cancel()
            await asyncio.gather(first_task, return_exceptions=True)
            stopped_renewing = asyncio.get_running_loop().time()
            await asyncio.wait_for(leading["second"].wait(), 15)
            took = asyncio.get_running_loop().time() - stopped_renewing
            # The last renewal was at most one retry period before the crash; the standby saw it change
            # (at its next read) and waits a full duration on its own clock from then.
            assert took >= timings["lease_duration"] - timings["retry_period"] - 0.1, "took over before expiry"
            assert took <= timings["lease_duration"] + 2 * timings["retry_period"] + 1.0, "waited too long"

            lease = await client.get(LEASES, lease_name, namespace="default")
            assert lease["spec"]["holderIdentity"] == "second"
            assert lease["spec"]["leaseTransitions"] == 1
        finally:
            first_task.cancel()
            if second_task is not None:
                second_task.cancel()
                await asyncio.gather(second_task, return_exceptions=True)
        lease = await client.get(LEASES, lease_name, namespace="default")
        assert lease["spec"]["holderIdentity"] == "", "a leader that stops cleanly releases the lease"
