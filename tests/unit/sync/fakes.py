"""In-memory fakes for the sync engine's reconcilers: kcp, its caches, physical clusters and their copy watches.

No servers and no background tasks: every fake answers at once, so a test is a sequence of reconciles and
assertions on what each fake recorded. The fakes keep the server rules the engine depends on:

* ``FakeKcp`` stores the tenant's objects per (kind, logical cluster, namespace, name); a merge patch that
  carries ``metadata.resourceVersion`` fails with 409 when it is stale (what makes a write on a stale object a
  conflict); a status patch touches only ``status``; an object with a ``deletionTimestamp`` goes once its last
  finalizer is removed. Its ``cache(kind)`` is the informer the reconciler reads: caught up (its own status
  writes are visible to the next reconcile, as after the watch delivered) unless the test ``freeze``s it.
  Stored objects are replaced, never changed in place, so a dict the cache handed out stays what it was.
* ``FakeCluster`` is one physical cluster: server-side apply creates or updates (409-free, ``force``), assigns
  uids and bumps ``generation`` when anything but metadata and status changes, answers 404 for an object in a
  namespace that does not exist, honours DELETE's uid precondition (409) and RFC 7386 merge patches; a deleted
  namespace goes at once with what it held. Every request is recorded.
* ``FakeClusters`` is ``ClusterClients``: a registration listed in ``down`` raises ``ClusterUnavailable``.
* ``FakeCopyWatches`` is what the reconciler reads of ``CopyWatches``: by default each copy as the cluster has
  it now (a watch that has caught up); ``show`` makes the watch show something else (a watch that lags).
"""

from __future__ import annotations

import asyncio
import builtins
import copy
import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import unquote

from tmc.api.constants import SYNC_FINALIZER
from tmc.clusters import ClusterUnavailable
from tmc.controllers.sync.copies import CopyWatches
from tmc.controllers.sync.namespaces import NamespaceJanitor
from tmc.controllers.sync.naming import Locator
from tmc.controllers.sync.reconcile import SyncReconciler, SyncSettings
from tmc.controllers.sync.transform import CLUSTER_RESOURCES
from tmc.errors import ApiError, ConflictError, NotFoundError
from tmc.kcp.paths import LogicalClusterPath
from tmc.kcp.resources import Resource
from tmc.kcp.rest import KubeClient
from tmc.runtime import BY_CLUSTER, Informer, ObjectKey, Result, StatusWriter
from tmc.runtime.keys import CLUSTER_ANNOTATION, cluster_of

JSON = dict[str, Any]
WORKSPACE = "2x7tenant"
NAMESPACE = "prod"
T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC).timestamp()
_KIND_OF_PLURAL = {r.plural: r.kind for r in CLUSTER_RESOURCES.values()} | {"namespaces": "Namespace"}


def stamp(at: float) -> str:
    """A Kubernetes timestamp ``at`` seconds after T0."""
    return datetime.fromtimestamp(T0 + at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Clock:
    """The reconciler's wall clock: seconds since the epoch, moved only by the test."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    @property
    def elapsed(self) -> float:
        return self.now - T0


def _merge(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge(result.get(key), value)
    return result


def _spec_of(obj: JSON) -> JSON:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


# -- kcp ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KcpWrite:
    verb: str  # create | patch | status
    kind: str
    cluster: str
    namespace: str
    name: str
    body: JSON


class FakeKcp:
    """The tenant side: workloads, dependencies, bindings, registrations and events, per logical cluster."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.objects: dict[tuple[str, str, str, str], JSON] = {}
        self.writes: list[KcpWrite] = []
        self.snapshot: dict[tuple[str, str, str, str], JSON] | None = None
        self._rv = itertools.count(1)
        self._uid = itertools.count(1)

    # Test-side access (as a user or another controller would change things).

    @staticmethod
    def _key_of(obj: JSON) -> tuple[str, str, str, str]:
        metadata = obj["metadata"]
        return (obj["kind"], cluster_of(obj), metadata.get("namespace") or "", metadata["name"])

    def put(self, obj: JSON) -> JSON:
        """Stores ``obj`` (a new version: resourceVersion bumped; uid and generation kept or assigned)."""
        key = self._key_of(obj)
        before = self.objects.get(key)
        stored = copy.deepcopy(obj)
        metadata = stored["metadata"]
        metadata.setdefault("annotations", {})[CLUSTER_ANNOTATION] = key[1]
        metadata["resourceVersion"] = str(next(self._rv))
        if before is None:
            metadata.setdefault("uid", f"kcp-uid-{next(self._uid)}")
            metadata.setdefault("generation", 1)
        else:
            metadata["uid"] = before["metadata"]["uid"]
            generation = before["metadata"].get("generation", 1)
            metadata["generation"] = generation + 1 if _spec_of(before) != _spec_of(stored) else generation
        self.objects[key] = stored
        return stored

    def find(self, kind: str, name: str, *, namespace: str = NAMESPACE, cluster: str = WORKSPACE) -> JSON | None:
        return self.objects.get((kind, cluster, namespace, name))

    def stored(self, kind: str, name: str, *, namespace: str = NAMESPACE, cluster: str = WORKSPACE) -> JSON:
        obj = self.find(kind, name, namespace=namespace, cluster=cluster)
        assert obj is not None, f"{kind} {namespace}/{name} is not in kcp"
        return obj

    def edit(self, kind: str, name: str, change: Callable[[JSON], None], *, namespace: str = NAMESPACE) -> JSON:
        obj = copy.deepcopy(self.stored(kind, name, namespace=namespace))
        change(obj)
        return self.put(obj)

    def delete(self, kind: str, name: str, *, namespace: str = NAMESPACE) -> None:
        """As the server does: a finalizer holds the object with a deletionTimestamp, otherwise it goes."""
        obj = self.stored(kind, name, namespace=namespace)
        if obj["metadata"].get("finalizers"):
            self.edit(kind, name, lambda o: o["metadata"].update(deletionTimestamp=stamp(self.clock.elapsed)))
        else:
            del self.objects[self._key_of(obj)]

    def freeze(self) -> None:
        """The caches stop at what kcp holds now (their watches lag) until ``thaw``."""
        self.snapshot = dict(self.objects)

    def thaw(self) -> None:
        self.snapshot = None

    def cache(self, kind: str) -> Informer:
        return cast(Informer, FakeCache(self, kind))

    def events(self) -> list[tuple[str, str]]:
        """(type, reason) of every Event recorded, in order."""
        return [(w.body["type"], w.body["reason"]) for w in self.writes if w.kind == "Event" and w.verb == "create"]

    def patches(self, kind: str, verb: str = "patch") -> list[KcpWrite]:
        return [w for w in self.writes if w.kind == kind and w.verb == verb]

    # What the reconciler and the StatusWriter call (tmc.kcp.rest.KubeClient's signatures).

    async def get(
        self,
        resource: Resource,
        name: str,
        *,
        cluster: LogicalClusterPath | None = None,
        namespace: str | None = None,
    ) -> JSON:
        obj = self.objects.get((resource.kind, str(cluster or ""), namespace or "", name))
        if obj is None:
            raise NotFoundError(404, "NotFound", f"{resource.plural} {name!r} not found")
        return copy.deepcopy(obj)

    async def create(
        self,
        resource: Resource,
        body: JSON,
        *,
        cluster: LogicalClusterPath | None = None,
        namespace: str | None = None,
    ) -> JSON:
        obj = {**copy.deepcopy(body), "kind": resource.kind}
        obj["metadata"]["annotations"] = {
            **(obj["metadata"].get("annotations") or {}),
            CLUSTER_ANNOTATION: str(cluster),
        }
        self.writes.append(
            KcpWrite("create", resource.kind, str(cluster), namespace or "", body["metadata"]["name"], obj)
        )
        if self._key_of(obj) in self.objects:
            raise ConflictError(409, "AlreadyExists", f"{resource.plural} {body['metadata']['name']!r} already exists")
        return copy.deepcopy(self.put(obj))

    async def merge_patch(
        self,
        resource: Resource,
        name: str,
        patch: JSON,
        *,
        cluster: LogicalClusterPath | None = None,
        namespace: str | None = None,
        subresource: str | None = None,
        field_manager: str | None = None,
    ) -> JSON:
        verb = "status" if subresource == "status" else "patch"
        self.writes.append(
            KcpWrite(verb, resource.kind, str(cluster or ""), namespace or "", name, copy.deepcopy(patch))
        )
        key = (resource.kind, str(cluster or ""), namespace or "", name)
        current = self.objects.get(key)
        if current is None:
            raise NotFoundError(404, "NotFound", f"{resource.plural} {name!r} not found")
        wanted_rv = (patch.get("metadata") or {}).get("resourceVersion")
        if wanted_rv is not None and wanted_rv != current["metadata"]["resourceVersion"]:
            raise ConflictError(409, "Conflict", f"the object {name!r} has been modified; please apply your changes")
        if subresource == "status":
            updated = {
                **copy.deepcopy(current),
                "status": _merge(current.get("status") or {}, patch.get("status") or {}),
            }
        else:
            updated = _merge(current, {k: v for k, v in patch.items() if k != "status"})
            updated["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        if updated["metadata"].get("deletionTimestamp") and not updated["metadata"].get("finalizers"):
            del self.objects[key]
            return updated
        return copy.deepcopy(self.put(updated))


class FakeCache:
    """What the reconcilers read of an ``Informer`` (``get``, ``list``, ``by_index``), over ``FakeKcp``'s store."""

    def __init__(self, kcp: FakeKcp, kind: str) -> None:
        self.kcp = kcp
        self.kind = kind

    def _store(self) -> dict[tuple[str, str, str, str], JSON]:
        return self.kcp.objects if self.kcp.snapshot is None else self.kcp.snapshot

    def _objects(self) -> Iterable[tuple[tuple[str, str, str, str], JSON]]:
        return ((k, o) for k, o in self._store().items() if k[0] == self.kind)

    def get(self, key: ObjectKey) -> JSON | None:
        return self._store().get((self.kind, key.cluster, key.namespace, key.name))

    def list(self, cluster: str | None = None) -> builtins.list[JSON]:
        return [o for k, o in self._objects() if cluster is None or k[1] == cluster]

    def by_index(self, name: str, value: str) -> builtins.list[JSON]:
        assert name == BY_CLUSTER, f"the sync engine only uses the by-cluster index, not {name!r}"
        return self.list(value)


# -- physical clusters --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Request:
    verb: str  # get | list | create | apply | patch | delete
    kind: str
    namespace: str
    name: str
    body: JSON | None = None
    params: Mapping[str, Any] = field(default_factory=dict)


def _selector_matches(selector: str, values: Mapping[str, Any]) -> bool:
    """Equality-based selectors (``a=b``, ``a!=b``, ``a``, ``!a``), comma-separated, as the API server reads them."""
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, _, value = term.partition("!=")
            if values.get(key) == value:
                return False
        elif "=" in term:
            key, _, value = term.partition("=")
            if values.get(key) != value.lstrip("="):
                return False
        elif term.startswith("!"):
            if term[1:] in values:
                return False
        elif term not in values:
            return False
    return True


class FakeCluster:
    """One physical cluster's API, recording every request; ``fail`` injects an error for (verb, kind, name)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.objects: dict[tuple[str, str, str], JSON] = {}  # (kind, namespace, name); namespaces: ("Namespace", "", n)
        self.requests: list[Request] = []
        self.fail: dict[tuple[str, str, str], ApiError] = {}
        self._uid = itertools.count(1)
        self._rv = itertools.count(1)

    # Test-side access.

    def put(self, obj: JSON) -> JSON:
        """Creates or replaces an object as someone other than TMC would (uid and generation assigned if new)."""
        stored = copy.deepcopy(obj)
        metadata = stored["metadata"]
        key = (stored["kind"], metadata.get("namespace") or "", metadata["name"])
        before = self.objects.get(key)
        metadata.setdefault("uid", before["metadata"]["uid"] if before else f"{self.name}-uid-{next(self._uid)}")
        generation = (before or {}).get("metadata", {}).get("generation", 0)
        if before is None or _spec_of(before) != _spec_of(stored):
            generation += 1
        metadata["generation"] = generation
        metadata["resourceVersion"] = str(next(self._rv))
        self.objects[key] = stored
        return copy.deepcopy(stored)

    def find(self, kind: str, namespace: str, name: str) -> JSON | None:
        return self.objects.get((kind, namespace, name))

    def names(self, namespace: str) -> builtins.list[str]:
        """``Kind/name`` of everything in ``namespace``, sorted."""
        return sorted(f"{k}/{n}" for k, ns, n in self.objects if ns == namespace and k != "Namespace")

    def namespace(self, name: str) -> JSON | None:
        return self.objects.get(("Namespace", "", name))

    def writes(self) -> builtins.list[Request]:
        return [r for r in self.requests if r.verb not in ("get", "list")]

    def edit(self, kind: str, namespace: str, name: str, change: Callable[[JSON], None]) -> JSON:
        obj = copy.deepcopy(self.objects[(kind, namespace, name)])
        change(obj)
        return self.put(obj)

    def set_status(self, kind: str, namespace: str, name: str, status: JSON) -> None:
        """What the cluster's own controllers write (no generation change)."""
        key = (kind, namespace, name)
        self.objects[key] = {**copy.deepcopy(self.objects[key]), "status": copy.deepcopy(status)}

    # The calls the engine makes (tmc.kcp.rest.KubeClient's signatures).

    def _record(self, request: Request) -> None:
        self.requests.append(request)
        error = self.fail.get((request.verb, request.kind, request.name))
        if error is not None:
            raise error

    def _require_namespace(self, kind: str, namespace: str) -> None:
        if kind != "Namespace" and ("Namespace", "", namespace) not in self.objects:
            raise NotFoundError(404, "NotFound", f'namespaces "{namespace}" not found')

    async def get(
        self,
        resource: Resource,
        name: str,
        *,
        cluster: LogicalClusterPath | None = None,
        namespace: str | None = None,
    ) -> JSON:
        assert cluster is None, "a physical cluster has no logical clusters"
        self._record(Request("get", resource.kind, namespace or "", name))
        obj = self.objects.get((resource.kind, namespace or "", name))
        if obj is None:
            raise NotFoundError(404, "NotFound", f'{resource.plural} "{name}" not found')
        return copy.deepcopy(obj)

    async def list(
        self,
        resource: Resource,
        *,
        cluster: LogicalClusterPath | None = None,
        namespace: str | None = None,
        label_selector: str | None = None,
        params: Mapping[str, str | int | bool] | None = None,
    ) -> JSON:
        params = dict(params or {})
        self._record(
            Request("list", resource.kind, namespace or "", "", params={**params, "labelSelector": label_selector})
        )
        items = [
            copy.deepcopy(obj)
            for (kind, ns, _), obj in sorted(self.objects.items())
            if kind == resource.kind
            and (namespace is None or ns == namespace)
            and _selector_matches(label_selector or "", obj["metadata"].get("labels") or {})
            and _selector_matches(
                str(params.get("fieldSelector", "")),
                {"metadata.name": obj["metadata"]["name"], "type": obj.get("type")},
            )
        ]
        limit = int(params.get("limit", 0))
        return {"kind": f"{resource.kind}List", "metadata": {}, "items": items[:limit] if limit else items}

    async def create(
        self,
        resource: Resource,
        body: JSON,
        *,
        cluster: LogicalClusterPath | None = None,
        namespace: str | None = None,
    ) -> JSON:
        name = body["metadata"]["name"]
        namespace = namespace or body["metadata"].get("namespace") or ""
        self._record(Request("create", resource.kind, namespace, name, copy.deepcopy(body)))
        self._require_namespace(resource.kind, namespace)
        if (resource.kind, namespace, name) in self.objects:
            raise ConflictError(409, "AlreadyExists", f'{resource.plural} "{name}" already exists')
        return self.put({**body, "kind": resource.kind})

    async def apply(
        self,
        resource: Resource,
        body: JSON,
        *,
        field_manager: str,
        cluster: LogicalClusterPath | None = None,
        subresource: str | None = None,
        force: bool = True,
    ) -> JSON:
        metadata = body["metadata"]
        namespace, name = metadata.get("namespace") or "", metadata["name"]
        params = {"fieldManager": field_manager, "force": force}
        self._record(Request("apply", resource.kind, namespace, name, copy.deepcopy(body), params))
        self._require_namespace(resource.kind, namespace)
        before = self.objects.get((resource.kind, namespace, name))
        if before is None:
            return self.put(body)
        # One manager's intent over what the server and other managers set: their labels and status stay.
        merged = {**copy.deepcopy(before), **{k: copy.deepcopy(v) for k, v in body.items() if k != "metadata"}}
        merged["metadata"] = {
            **before["metadata"],
            "labels": {**(before["metadata"].get("labels") or {}), **(metadata.get("labels") or {})},
            "annotations": {**(before["metadata"].get("annotations") or {}), **(metadata.get("annotations") or {})},
        }
        return self.put(merged)

    async def merge_patch(
        self,
        resource: Resource,
        name: str,
        patch: JSON,
        *,
        cluster: LogicalClusterPath | None = None,
        namespace: str | None = None,
        subresource: str | None = None,
        field_manager: str | None = None,
    ) -> JSON:
        self._record(Request("patch", resource.kind, namespace or "", name, copy.deepcopy(patch)))
        before = self.objects.get((resource.kind, namespace or "", name))
        if before is None:
            raise NotFoundError(404, "NotFound", f'{resource.plural} "{name}" not found')
        return self.put(_merge(before, patch))

    async def request(self, method: str, path: str, *, body: Any = None, **_: Any) -> JSON:
        """Only DELETE goes through the raw request: with DeleteOptions (uid precondition, propagation)."""
        assert method == "DELETE", f"unexpected raw {method} {path}"
        parts = [unquote(p) for p in path.strip("/").split("/")]
        rest = parts[2:] if parts[0] == "api" else parts[3:]
        if len(rest) == 2:
            kind, namespace, name = "Namespace", "", rest[1]
        else:
            kind, namespace, name = _KIND_OF_PLURAL[rest[2]], rest[1], rest[3]
        self._record(Request("delete", kind, namespace, name, copy.deepcopy(body)))
        obj = self.objects.get((kind, namespace, name))
        if obj is None:
            raise NotFoundError(404, "NotFound", f'{kind} "{name}" not found')
        uid = ((body or {}).get("preconditions") or {}).get("uid")
        if uid is not None and uid != obj["metadata"]["uid"]:
            raise ConflictError(
                409, "Conflict", f"Precondition failed: UID in precondition: {uid}, UID in object meta: "
            )
        del self.objects[(kind, namespace, name)]
        if kind == "Namespace":
            for key in [k for k in self.objects if k[1] == name]:
                del self.objects[key]
        return {"kind": "Status", "status": "Success"}


class FakeClusters:
    """``ClusterClients`` over ``FakeCluster``s; ``down[name] = reason`` makes a registration unavailable."""

    def __init__(self, *names: str) -> None:
        self.clusters = {name: FakeCluster(name) for name in names}
        self.down: dict[str, str] = {}
        self._limiters: dict[str, asyncio.Semaphore] = {}

    def __getitem__(self, name: str) -> FakeCluster:
        return self.clusters[name]

    async def client_for(self, cluster: LogicalClusterPath, registration: str) -> KubeClient:
        if registration in self.down:
            raise ClusterUnavailable(self.down[registration], f"cluster {registration} is not ready")
        if registration not in self.clusters:
            raise ClusterUnavailable("NotFound", f"no registration {registration}")
        return cast(KubeClient, self.clusters[registration])

    def limiter(self, cluster: LogicalClusterPath, registration: str) -> asyncio.Semaphore:
        return self._limiters.setdefault(registration, asyncio.Semaphore(4))


class FakeCopyWatches:
    """``CopyWatches.copy``: the copy as its cluster has it now, unless the test made the watch show another."""

    def __init__(self) -> None:
        self.synced = True
        self.shown: dict[tuple[str, str, str, str], JSON | None] = {}

    def show(self, cluster: str, kind: str, namespace: str, name: str, obj: JSON | None) -> None:
        self.shown[(cluster, kind, namespace, name)] = copy.deepcopy(obj)

    def catch_up(self) -> None:
        self.shown.clear()

    def copy(self, client: KubeClient, kind: str, namespace: str, name: str) -> tuple[bool, JSON | None]:
        cluster = cast(FakeCluster, client)
        if not self.synced:
            return False, None
        key = (cluster.name, kind, namespace, name)
        if key in self.shown:
            return True, self.shown[key]
        obj = cluster.find(kind, namespace, name)
        return True, None if obj is None else copy.deepcopy(obj)


# -- builders -----------------------------------------------------------------------------------------------


def physical_namespace(registration: str, namespace: str = NAMESPACE, cluster: str = WORKSPACE) -> str:
    return Locator(cluster, namespace, registration).physical_namespace


def deployment(
    name: str = "web",
    *,
    replicas: int = 3,
    configmaps: Iterable[str] = (),
    secrets: Iterable[str] = (),
    annotations: Mapping[str, str] | None = None,
    finalizers: Iterable[str] = (),
    image: str = "nginx:1.27",
) -> JSON:
    container: JSON = {"name": "app", "image": image}
    env_from = [{"configMapRef": {"name": c}} for c in configmaps] + [{"secretRef": {"name": s}} for s in secrets]
    if env_from:
        container["envFrom"] = env_from
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "annotations": {CLUSTER_ANNOTATION: WORKSPACE, **(annotations or {})},
            "labels": {"app": name},
            "finalizers": list(finalizers),
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}},
        },
    }


def configmap(name: str, data: Mapping[str, str] | None = None) -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": NAMESPACE, "annotations": {CLUSTER_ANNOTATION: WORKSPACE}},
        "data": dict(data or {"key": "value"}),
    }


def secret(name: str) -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NAMESPACE, "annotations": {CLUSTER_ANNOTATION: WORKSPACE}},
        "type": "Opaque",
        "data": {"password": "c2VjcmV0"},
    }


def binding(workload: str = "web", clusters: Mapping[str, int | None] | None = None, **spec: Any) -> JSON:
    """The WorkloadBinding the placement controller writes for Deployment ``workload`` (with the sync finalizer)."""
    chosen = {"a": 3} if clusters is None else clusters
    return {
        "apiVersion": "tmc.kcp.io/v1alpha1",
        "kind": "WorkloadBinding",
        "metadata": {
            "name": f"deployment-{workload}",
            "namespace": NAMESPACE,
            "annotations": {CLUSTER_ANNOTATION: WORKSPACE},
            "finalizers": [SYNC_FINALIZER],
        },
        "spec": {
            "workload": {"apiVersion": "apps/v1", "kind": "Deployment", "name": workload},
            "clusters": [
                {"name": name, **({} if replicas is None else {"replicas": replicas})}
                for name, replicas in chosen.items()
            ],
            **spec,
        },
    }


def registration(name: str) -> JSON:
    return {
        "apiVersion": "tmc.kcp.io/v1alpha1",
        "kind": "ClusterRegistration",
        "metadata": {"name": name, "annotations": {CLUSTER_ANNOTATION: WORKSPACE}},
        "spec": {"location": name},
    }


def available(replicas: int, generation: int = 1) -> JSON:
    """A Deployment copy's status once its cluster rolled it out."""
    return {
        "observedGeneration": generation,
        "replicas": replicas,
        "readyReplicas": replicas,
        "updatedReplicas": replicas,
        "availableReplicas": replicas,
        "conditions": [{"type": "Available", "status": "True"}],
    }


# -- the whole engine against the fakes ---------------------------------------------------------------------


class World:
    """kcp, physical clusters (registrations of the same names), copy watches and a clock, wired to one
    ``SyncReconciler`` and one ``NamespaceJanitor`` as ``tmc.controllers.sync.controller.setup`` wires them."""

    def __init__(self, *clusters: str, settings: SyncSettings | None = None, copy_watches: bool = False) -> None:
        self.clock = Clock()
        self.kcp = FakeKcp(self.clock)
        self.clusters = FakeClusters(*(clusters or ("a",)))
        self.copies = FakeCopyWatches() if copy_watches else None
        self.emptied: list[tuple[str, str, str]] = []
        for name in self.clusters.clusters:
            self.kcp.put(registration(name))
        self.reconciler = SyncReconciler(
            cast(KubeClient, self.kcp),
            self.kcp.cache("WorkloadBinding"),
            {
                ("apps/v1", "Deployment"): self.kcp.cache("Deployment"),
                ("v1", "ConfigMap"): self.kcp.cache("ConfigMap"),
                ("v1", "Secret"): self.kcp.cache("Secret"),
            },
            self.clusters,
            settings=settings,
            status=StatusWriter(self.kcp, field_manager="tmc-controller.test"),
            clock=self.clock,
            on_namespace_emptied=lambda *origin: self.emptied.append(origin),
            copies=cast(CopyWatches, self.copies),
        )
        self.janitor = NamespaceJanitor(self.kcp.cache("WorkloadBinding"), self.clusters)

    def __getitem__(self, name: str) -> FakeCluster:
        return self.clusters[name]

    async def reconcile(self, workload: str = "web") -> Result:
        return await self.reconciler.reconcile(ObjectKey(WORKSPACE, NAMESPACE, f"deployment-{workload}"))

    async def run_janitor(self) -> builtins.list[Result]:
        """What the janitor does for every namespace the engine reported emptied (after its grace delay)."""
        keys, self.emptied = self.emptied, []
        return [await self.janitor.reconcile(ObjectKey(*origin)) for origin in keys]

    def binding_status(self, workload: str = "web") -> JSON:
        status: JSON = self.kcp.stored("WorkloadBinding", f"deployment-{workload}").get("status") or {}
        return status

    def entries(self, workload: str = "web") -> dict[str, JSON]:
        return {e["name"]: e for e in self.binding_status(workload).get("clusters", [])}

    def condition(self, workload: str = "web") -> JSON:
        (applied,) = [c for c in self.binding_status(workload).get("conditions", []) if c["type"] == "Applied"]
        return dict(applied)
