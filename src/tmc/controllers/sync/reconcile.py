"""Sync one WorkloadBinding: its workload's copies (and their dependencies) onto the chosen clusters.

Level-triggered on the binding key. Wanted: for each cluster in ``spec.clusters``, the workload's copy with that
cluster's replica count plus the ConfigMaps, Secrets, ServiceAccounts and PVCs its pod template references. Had:
``status.clusters[].objects``, what this engine applied before. The reconcile applies what is wanted (server-side
apply, field manager ``tmc-syncer``) and deletes what was applied and is no longer wanted (UID precondition,
background propagation): it never deletes anything it did not record applying.

* Isolation: every copy goes into the namespace mapped from (registration, logical cluster, namespace); a
  namespace whose locator names anyone else is refused (``naming.py``).
* Conflicts: an object TMC did not create is never overwritten unless the workload opts in with annotation
  ``tmc.kcp.io/conflict-resolution: Overwrite``; an object the cluster rejects is reported with the cluster's
  message and holds back nothing else.
* Dependencies are reference-counted from the caches: one is deleted from a cluster only when no other binding
  of the same namespace still wants it there.
* Deletion: the workload carries finalizer ``tmc.kcp.io/sync`` while it has copies; the binding is created with
  it. Both are released once the copies are gone, or after ``cleanup_timeout`` if a cluster stays unreachable
  (or keeps refusing the deletes), in which case what was left behind is recorded on the ClusterRegistration
  (``status.orphanedCopies``).
  Annotation ``tmc.kcp.io/deletion-policy: Orphan`` keeps the copies and drops TMC's marks instead.
* Cheap when nothing changed: a cluster whose recorded ``appliedHash`` equals the hash of what would be applied
  is not contacted, and status is written only when it changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tmc.api import CLUSTER_REGISTRATION, WORKLOAD_BINDING
from tmc.api.conditions import set_condition
from tmc.api.constants import CONDITION_APPLIED, SYNC_FINALIZER
from tmc.api.meta import Condition, ConditionStatus
from tmc.controllers.sync.aggregate import aggregate_status, observe_copy
from tmc.controllers.sync.clusters import ClusterClients, ClusterUnavailable
from tmc.controllers.sync.copies import WATCHED_KINDS, CopyWatches
from tmc.controllers.sync.leaks import LeakLedger
from tmc.controllers.sync.metrics import SyncMetrics
from tmc.controllers.sync.naming import (
    FIELD_MANAGER,
    MANAGED_LABEL,
    ORIGIN_ANNOTATIONS,
    Locator,
    is_managed,
    origin_of,
)
from tmc.controllers.sync.slots import ClusterSlots
from tmc.controllers.sync.transform import (
    CLUSTER_RESOURCES,
    ObjectRef,
    dependencies,
    never_copied,
    prepare_copy,
)
from tmc.errors import ApiError, ConflictError, NotFoundError
from tmc.kcp.events import record_event
from tmc.kcp.paths import LogicalClusterPath
from tmc.kcp.resources import NAMESPACES, resource_of
from tmc.kcp.rest import JSON, KubeClient, TransportError
from tmc.runtime import BY_CLUSTER, Informer, ObjectKey, Result, get_logger
from tmc.runtime.keys import CLUSTER_ANNOTATION, cluster_of
from tmc.runtime.logcontext import log_field
from tmc.runtime.status import StatusWriter

BINDINGS = resource_of(WORKLOAD_BINDING)
REGISTRATIONS = resource_of(CLUSTER_REGISTRATION)
CONFLICT_RESOLUTION = "tmc.kcp.io/conflict-resolution"
REPLICAS_OWNER = "tmc.kcp.io/replicas-owner"
DELETION_POLICY = "tmc.kcp.io/deletion-policy"
MESSAGE_MAX = 512
CACHE_SETTLE = 2.0
"""Seconds after its own apply during which a copy's watch cache may still show the state before it."""
ORPHANED_MAX = 100
log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class SyncSettings:
    cleanup_timeout: float = 120.0
    """How long a deleted workload waits for an unreachable cluster before its copies are recorded as leaked."""
    retry_after: float = 5.0
    """When a cluster was unavailable, look again this much later (the registration's recovery also enqueues)."""
    namespace_grace: float = 30.0
    """How long a physical namespace must stay empty of TMC's objects before it is deleted."""


class _NamespaceRefused(Exception):
    pass


class SyncReconciler:
    def __init__(
        self,
        kcp: KubeClient,
        bindings: Informer,
        sources: Mapping[tuple[str, str], Informer],
        clusters: ClusterClients,
        *,
        settings: SyncSettings | None = None,
        status: StatusWriter,
        clock: Callable[[], float] = time.time,
        on_namespace_emptied: Callable[[str, str, str], None] | None = None,
        copies: CopyWatches | None = None,
        metrics: SyncMetrics | None = None,
        wake: Callable[[ObjectKey], None] | None = None,
    ) -> None:
        """``sources``: informers of the workload and dependency kinds in kcp, keyed by (apiVersion, kind).
        ``wake``: enqueues a binding key again (the controller's); with it, a reconcile parks instead of waiting
        for a busy cluster's slot (``slots.py``)."""
        self.kcp = kcp
        self.bindings = bindings
        self.sources = sources
        self.clusters = clusters
        self.settings = settings or SyncSettings()
        self.status = status
        self.clock = clock
        self.on_namespace_emptied = on_namespace_emptied or (lambda cluster, namespace, registration: None)
        self._known_namespaces: set[tuple[int, str]] = set()
        self.copies = copies
        # (connection, namespace, kind, name) -> the copy's generation right after this process applied it.
        self._applied_generation: dict[tuple[int, str, str, str], int | None] = {}
        self._applied_at: dict[tuple[int, str, str, str], float] = {}
        self._recheck: set[ObjectKey] = set()
        self.slots = ClusterSlots(wake)
        self._busy: set[ObjectKey] = set()  # reconciles that found a cluster's slots all taken (their key parked)
        self.drift_corrections = 0
        self.metrics = metrics or SyncMetrics()
        self._leaks = LeakLedger(self._write_leaks)

    # -- reading the caches -----------------------------------------------------------------------------

    def source(self, cluster: str, namespace: str, ref: ObjectRef) -> JSON | None:
        informer = self.sources.get((ref.api_version, ref.kind))
        if informer is None:
            return None
        obj = informer.get(ObjectKey(cluster, namespace, ref.name))
        return None if obj is None else {**obj, "apiVersion": ref.api_version, "kind": ref.kind}

    def wanted_elsewhere(self, cluster: str, namespace: str, target: str, ref: ObjectRef, binding: str) -> bool:
        """Whether another live binding of the namespace wants ``ref`` on cluster ``target``."""
        for other in self.bindings.by_index(BY_CLUSTER, cluster):
            metadata = other["metadata"]
            if metadata.get("namespace") != namespace or metadata["name"] == binding:
                continue
            if metadata.get("deletionTimestamp"):
                continue
            spec = other.get("spec", {})
            if target not in {c.get("name") for c in spec.get("clusters", [])}:
                continue
            own = ObjectRef.of_binding(other)
            workload = self.source(cluster, namespace, own) if own.kind else None
            if workload is None or workload["metadata"].get("deletionTimestamp"):
                continue  # gone or going: its own reconcile wants nothing anywhere any more
            if own == ref or ref in dependencies(workload):
                return True
        return False

    # -- the reconcile ----------------------------------------------------------------------------------

    async def reconcile(self, key: ObjectKey) -> Result:
        self._busy.discard(key)
        binding = self.bindings.get(key)
        if binding is None:
            self.slots.forget(key)
            return Result()
        spec = binding.get("spec", {})
        own = ObjectRef.of_binding(binding)
        workload = self.source(key.cluster, key.namespace, own)
        binding_deleted = bool(binding["metadata"].get("deletionTimestamp"))
        workload_deleted = workload is None or bool(workload["metadata"].get("deletionTimestamp"))
        wanted: dict[str, int | None] = {}
        if not binding_deleted and not workload_deleted:
            wanted = {c["name"]: c.get("replicas") for c in spec.get("clusters", [])}
        previous = {c["name"]: c for c in (binding.get("status") or {}).get("clusters", [])}
        orphan = workload is not None and _annotation(workload, DELETION_POLICY) == "Orphan"
        cluster = LogicalClusterPath(key.cluster)

        deletion_started = _deletion_started(binding, workload)
        copies: dict[str, JSON | None] = {}
        wanted_entries: list[JSON] = []
        if wanted and workload is not None:
            wanted_entries = list(
                await asyncio.gather(
                    *(
                        self._sync_cluster(key, name, wanted[name], workload, previous.get(name), copies)
                        for name in sorted(wanted)
                    )
                )
            )
        # A copy whose record never reached kcp (the status write failed, or the process died between the apply
        # and the write) is cleaned up like a recorded one: the copy watch shows it where this binding's copies
        # live. Until the watch can tell, nothing is released (bounded by the cleanup timeout).
        unsure = False
        chosen = {str(c.get("name") or "") for c in spec.get("clusters", [])}
        for name in sorted((chosen | set(previous)) - set(wanted)):
            entry, sure = await self._with_unrecorded_copy(key, name, own, previous.get(name))
            if entry is not None:
                previous[name] = entry
            unsure = unsure or not sure
        replaced = sorted(set(previous) - set(wanted))
        deleting = binding_deleted or workload_deleted
        busy = key in self._busy
        if busy and not replaced and all(e.get("reason") == BUSY and "appliedHash" not in e for e in wanted_entries):
            # Nothing done and nothing to record (no cluster had an entry yet): no write until a slot frees.
            self._busy.discard(key)
            return Result(requeue_after=self.settings.retry_after)
        purge = spec.get("purgeMode", "Graceful")
        replacement_ready = all(e.get("health") == "Healthy" for e in wanted_entries)
        leftovers: list[JSON | None] = []
        for name in replaced:
            if not await self._usable(key, name):
                previous[name] = {**previous[name], "health": "Unknown"}
            # While the workload and its binding live, a copy no longer chosen is kept as the policy says; with no
            # replacement at all (no eligible cluster) Graceful keeps it too rather than leave the workload nowhere.
            if not deleting and purge == "Never":
                leftovers.append({**previous[name], "reason": "Retained", "message": "purgeMode Never: left in place"})
            elif not deleting and purge == "Graceful" and not (wanted and replacement_ready):
                waiting = ", ".join(e["name"] for e in wanted_entries if e.get("health") != "Healthy")
                message = f"kept until {waiting} is healthy" if waiting else "kept: no eligible cluster to replace it"
                leftovers.append({**previous[name], "reason": "AwaitingReplacement", "message": message})
            else:
                leftovers.append(
                    await self._clean_cluster(
                        key, name, previous[name], orphan=orphan, deletion_started=deletion_started
                    )
                )
        entries = wanted_entries + [entry for entry in leftovers if entry is not None]
        # The copies went out first (no kcp round trip ahead of the first apply); the binding's record of them,
        # the workload's finalizer and status, and the events are independent writes to kcp: sent together.
        # The binding's record is what cleanup relies on, so a copy never outlives it: the binding was created
        # with the sync finalizer, and nothing is deleted that the record does not name.
        writes = [self._write_status(binding, entries, wanted)]
        if workload is not None:
            writes.append(self._announce(cluster, workload, previous, entries, wanted))
        if wanted and workload is not None:
            writes.append(self._finalize_and_report(cluster, own, workload, entries, wanted, copies))
        stored_binding, *_ = await asyncio.gather(*writes)

        retry = any(not entry.get("applied") and entry.get("reason") in _TRANSIENT for entry in entries)
        timed_out = deletion_started is not None and self.clock() - deletion_started >= self.settings.cleanup_timeout
        if not wanted and not entries and unsure and not timed_out:
            return Result(requeue_after=CACHE_SETTLE)
        if not wanted and not entries:
            if workload is not None and SYNC_FINALIZER in (workload["metadata"].get("finalizers") or []):
                await self._remove_finalizer(cluster, own, workload)
            if binding_deleted and stored_binding is not None:
                # The status write above may have moved its resourceVersion: release the version it left.
                await self._release_binding(cluster, stored_binding)
            return Result()
        if key in self._recheck:
            self._recheck.discard(key)
            return Result(requeue_after=CACHE_SETTLE)
        if key in self._busy:  # woken when a slot frees; this requeue is the fallback
            self._busy.discard(key)
            retry = True
        return Result(requeue_after=self.settings.retry_after) if retry else Result()

    # -- one wanted cluster -----------------------------------------------------------------------------

    @log_field("cluster", "target")
    async def _sync_cluster(
        self,
        key: ObjectKey,
        target: str,
        replicas: int | None,
        workload: JSON,
        previous: JSON | None,
        copies: dict[str, JSON | None],
    ) -> JSON:
        """Applies what changed (or drifted) on one chosen cluster; returns its entry, with the copy's state."""
        locator = Locator(key.cluster, key.namespace, target)
        namespace = locator.physical_namespace
        entry: JSON = {"name": target, "namespace": namespace, "health": "Unknown"}
        old_objects = list((previous or {}).get("objects", []))
        generation = workload["metadata"].get("generation")
        own = ObjectRef(workload["apiVersion"], workload["kind"], workload["metadata"]["name"])
        bodies, missing = self._bodies(key, namespace, workload, replicas)
        digest = _hash([body for _, body in bodies])

        try:
            client = await self.clusters.client_for(LogicalClusterPath(key.cluster), target)
        except ClusterUnavailable as exc:
            # A lost cluster's copy counts for nothing: its last known state is not the truth any more.
            copies[target] = None
            self.metrics.unavailable(target, exc.reason)
            return {
                **(previous or {}),
                **entry,
                "applied": False,
                "reason": exc.reason,
                "message": exc.message[:MESSAGE_MAX],
                "objects": old_objects,
                "appliedHash": "",
            }
        memory_key = (id(client), namespace, own.kind, own.name)
        known, copy = self.copies.copy(client, own.kind, namespace, own.name) if self.copies else (False, None)
        recorded = self._applied_generation.get(memory_key, (previous or {}).get("appliedGeneration"))
        # Only a copy that was applied can drift (this process's memory of its own apply counts, even while the
        # binding's record of it has not reached the cache): a missing one that never was is a first apply.
        was_applied = memory_key in self._applied_generation or any(
            (o.get("kind"), o.get("name")) == (own.kind, own.name) for o in old_objects
        )
        shown = _generation(copy) if copy is not None else None
        drifted = known and was_applied and (copy is None or (recorded is not None and shown != recorded))
        # A watch behind our own write shows the copy missing or older; newer than our apply is someone else's edit.
        lagging = copy is None or (recorded is not None and shown is not None and shown < recorded)
        if drifted and lagging and self.clock() - self._applied_at.get(memory_key, 0.0) < CACHE_SETTLE:
            # Just applied: the copy's watch may not have delivered our own write yet. Look again shortly.
            drifted = False
            self._recheck.add(key)
        if (
            previous is not None
            and previous.get("applied")
            and previous.get("appliedHash") == digest
            and not missing
            and not drifted
        ):
            copies[target] = copy
            with contextlib.suppress(ClusterUnavailable):
                self.slots.passed(self.clusters.limiter(LogicalClusterPath(key.cluster), target), key)
            return self._observed({**previous, "namespace": namespace}, own.kind, copy, known, replicas)
        if drifted:
            log.info("copy of %s on %s drifted (%s); restoring", key, target, "deleted" if copy is None else "edited")
            self.drift_corrections += 1
            self.metrics.drift_corrected(target)

        applied: list[JSON] = []
        problems: list[tuple[str, str]] = []
        adopt = _annotation(workload, CONFLICT_RESOLUTION) == "Overwrite"
        limiter = self.clusters.limiter(LogicalClusterPath(key.cluster), target)
        async with self.slots.slot(limiter, key) as free:
            if not free:
                self._busy.add(key)
                copies[target] = copy
                if previous is not None:  # what is there stays as recorded until a slot frees
                    return self._observed({**previous, "namespace": namespace}, own.kind, copy, known, replicas)
                message = f"waiting for a free slot: cluster {target} is busy with other copies"
                return {**entry, "applied": False, "reason": BUSY, "message": message, "objects": []}
            try:
                await self._ensure_namespace(client, locator)
            except (_NamespaceRefused, TransportError) as exc:
                reason = "NamespaceConflict" if isinstance(exc, _NamespaceRefused) else "Unreachable"
                message = str(exc) if isinstance(exc, _NamespaceRefused) else exc.message
                copies[target] = None
                self.metrics.unavailable(target, reason)
                return {
                    **entry,
                    "applied": False,
                    "reason": reason,
                    "message": message[:MESSAGE_MAX],
                    "objects": old_objects,
                }
            known_refs = {(o.get("kind"), o.get("name")) for o in old_objects}
            for ref, body in bodies:
                outcome = await self._apply(
                    client, ref, body, target, known=(ref.kind, ref.name) in known_refs, adopt=adopt
                )
                if isinstance(outcome, tuple):
                    problems.append(outcome)
                    if outcome[0] == "Unreachable":
                        break
                    continue
                if ref == own:
                    self._applied_generation[memory_key] = _generation(outcome)
                    self._applied_at[memory_key] = self.clock()
                    entry["appliedGeneration"] = self._applied_generation[memory_key]
                    # The apply's answer is the copy as it is now: newer than the watch may have shown yet.
                    copy, known = outcome, True
                applied.append(_record_of(ref, outcome))
            wanted_refs = {(r.kind, r.name) for r, _ in bodies}
            leftovers = [o for o in old_objects if (o.get("kind"), o.get("name")) not in wanted_refs]
            still_held = await self._delete_objects(
                client, key, target, namespace, leftovers, binding=_binding_name(key)
            )
        # What could not be applied or deleted this time stays recorded, so a later reconcile still finds it.
        applied_refs = {(o["kind"], o["name"]) for o in applied}
        kept = [
            o
            for o in old_objects
            if (o.get("kind"), o.get("name")) in wanted_refs and (o.get("kind"), o.get("name")) not in applied_refs
        ] + still_held
        entry["objects"] = sorted(applied + kept, key=lambda o: (o["kind"], o["name"]))
        entry.update(sourceGeneration=generation, desiredReplicas=replicas, lastAppliedTime=_now_text(self.clock()))
        if missing:
            problems.insert(0, ("DependencyMissing", f"{', '.join(missing)} not found in namespace {key.namespace}"))
        fully_applied = all(reason == "DependencyMissing" for reason, _ in problems)
        if problems:
            entry.update(
                applied=fully_applied,
                reason=problems[0][0],
                message="; ".join(text for _, text in problems)[:MESSAGE_MAX],
                appliedHash="",
            )
        else:
            entry.update(
                applied=True, reason="Applied", message=f"applied to namespace {namespace}", appliedHash=digest
            )
        sources = [self.bindings.get(key), *(self.source(key.cluster, key.namespace, ref) for ref, _ in bodies)]
        self.metrics.applied(target, len(applied), problems, sources, now=self.clock(), drifted=drifted)
        copies[target] = copy
        return self._observed(entry, own.kind, copy if fully_applied else None, known, replicas)

    def _bodies(
        self, key: ObjectKey, namespace: str, workload: JSON, replicas: int | None
    ) -> tuple[list[tuple[ObjectRef, JSON]], list[str]]:
        """What to apply on a cluster: the dependencies that exist (and may be copied), then the workload."""
        bodies: list[tuple[ObjectRef, JSON]] = []
        missing: list[str] = []
        for dependency in dependencies(workload):
            source = self.source(key.cluster, key.namespace, dependency)
            if source is None:
                missing.append(f"{dependency.kind} {dependency.name}")
                continue
            if never_copied(source):
                continue
            copy = prepare_copy(source, logical_cluster=key.cluster, physical_namespace=namespace, replicas=None)
            bodies.append((dependency, copy))
        own = ObjectRef(workload["apiVersion"], workload["kind"], workload["metadata"]["name"])
        copy = prepare_copy(workload, logical_cluster=key.cluster, physical_namespace=namespace, replicas=replicas)
        if _annotation(workload, REPLICAS_OWNER) == "cluster":
            # The clusters' autoscalers own spec.replicas: never sent, so server-side apply never takes it back.
            copy.get("spec", {}).pop("replicas", None)
        bodies.append((own, copy))
        return bodies, missing

    def _observed(self, entry: JSON, kind: str, copy: JSON | None, known: bool, replicas: int | None) -> JSON:
        """``entry`` with the copy's reported state; ``lastSeenTime`` moves only when that state changed."""
        if not known:
            return entry
        state = observe_copy(kind, copy, replicas)
        before = {field: entry.get(field) for field in state}
        updated = {**entry, **state}
        if before != state or "lastSeenTime" not in entry:
            updated["lastSeenTime"] = _now_text(self.clock())
        return updated

    async def _announce(
        self,
        cluster: LogicalClusterPath,
        workload: JSON,
        previous: Mapping[str, JSON],
        entries: list[JSON],
        wanted: Mapping[str, int | None],
    ) -> None:
        """Events in the tenant's workspace on transitions only: first applied, refused, failed over."""
        for entry in entries:
            name, reason = entry["name"], entry.get("reason")
            before = previous.get(name) or {}
            if reason == before.get("reason") and entry.get("applied") == before.get("applied"):
                continue
            if name in wanted and reason == "Applied" and not before.get("applied"):
                await self._event(cluster, workload, "Normal", "Synced", f"applied to cluster {name}")
            elif reason in _REFUSALS:
                await self._event(cluster, workload, "Warning", f"Sync{reason}", f"{name}: {entry.get('message', '')}")
            elif name not in wanted and entry.get("health") == "Unknown" and wanted:
                others = ", ".join(sorted(wanted))
                await self._event(
                    cluster, workload, "Warning", "FailedOver", f"cluster {name} is lost; now placed on {others}"
                )

    async def _event(self, cluster: LogicalClusterPath, workload: JSON, kind: str, reason: str, message: str) -> None:
        try:
            await record_event(self.kcp, cluster, workload, event_type=kind, reason=reason, message=message)
        except ApiError as exc:  # an event is a courtesy: never a reason to fail or retry the sync
            log.info("event %s for %s not recorded: %s", reason, workload["metadata"]["name"], exc.message)

    async def _with_unrecorded_copy(
        self, key: ObjectKey, target: str, own: ObjectRef, entry: JSON | None
    ) -> tuple[JSON | None, bool]:
        """``entry`` (what the binding records for ``target``), plus the workload's copy there if the copy watch
        shows one the record lacks; and whether the watch could tell (False: not listed yet, or the copy was
        applied by this process so recently that the watch may not show it yet)."""
        objects = (entry or {}).get("objects", [])
        if any((o.get("kind"), o.get("name")) == (own.kind, own.name) for o in objects):
            return entry, True
        if self.copies is None or own.kind not in WATCHED_KINDS or not target:
            return entry, True
        try:
            client = await self.clusters.client_for(LogicalClusterPath(key.cluster), target)
        except ClusterUnavailable:
            return entry, True  # nothing can be seen there now; recorded copies wait out the cleanup timeout
        namespace = Locator(key.cluster, key.namespace, target).physical_namespace
        known, copy = self.copies.copy(client, own.kind, namespace, own.name)
        if copy is None:
            applied_at = self._applied_at.get((id(client), namespace, own.kind, own.name))
            settling = applied_at is not None and self.clock() - applied_at < CACHE_SETTLE
            return entry, known and not settling
        if not is_managed(copy) or origin_of(copy) != (key.cluster, key.namespace, own.kind, own.name):
            return entry, True  # not this workload's copy: never touched
        found = [_record_of(own, copy)]
        # Its dependencies went out before it and are in no record either: the copy's own pod template names them.
        recorded = {(o.get("kind"), o.get("name")) for o in objects}
        for dependency in dependencies(copy):
            if (dependency.kind, dependency.name) in recorded:
                continue
            try:
                left = await self._copy_of(client, key, namespace, dependency)
            except (ApiError, TransportError) as exc:
                log.info("cannot tell whether %s %s is left on %s: %s", dependency.kind, dependency.name, target, exc)
                return entry, False  # looked at again; bounded by the cleanup timeout
            if left is not None:
                found.append(left)
        log.info("copy of %s on %s is in no record (a status write was lost); cleaning it up", key, target)
        base = entry or {"name": target, "namespace": namespace}
        return {**base, "objects": [*objects, *found]}, True

    async def _copy_of(self, client: KubeClient, key: ObjectKey, namespace: str, ref: ObjectRef) -> JSON | None:
        """The record of ``ref``'s copy in ``namespace`` if TMC applied it there for this tenant's namespace (never
        an object someone else put there under the same name)."""
        if (ref.api_version, ref.kind) not in CLUSTER_RESOURCES:
            return None
        try:
            obj = await client.get(ref.resource, ref.name, namespace=namespace)
        except NotFoundError:
            return None
        if not is_managed(obj) or origin_of(obj) != (key.cluster, key.namespace, ref.kind, ref.name):
            return None
        return _record_of(ref, obj)

    async def _usable(self, key: ObjectKey, target: str) -> bool:
        try:
            await self.clusters.client_for(LogicalClusterPath(key.cluster), target)
        except ClusterUnavailable:
            return False
        return True

    async def _ensure_namespace(self, client: KubeClient, locator: Locator) -> None:
        cache_key = (id(client), locator.physical_namespace)
        if cache_key in self._known_namespaces:
            return
        name = locator.physical_namespace
        try:
            existing = await client.get(NAMESPACES, name)
        except NotFoundError:
            try:
                await client.create(NAMESPACES, locator.namespace_manifest())
            except ConflictError:
                existing = await client.get(NAMESPACES, name)
            else:
                self._known_namespaces.add(cache_key)
                return
        if not locator.owns(existing):
            raise _NamespaceRefused(
                f"namespace {name} on the cluster belongs to someone else (its {MANAGED_LABEL} locator differs);"
                " TMC never uses it"
            )
        if existing["metadata"].get("deletionTimestamp"):
            raise _NamespaceRefused(f"namespace {name} on the cluster is being deleted; retrying when it is gone")
        self._known_namespaces.add(cache_key)

    async def _apply(
        self, client: KubeClient, ref: ObjectRef, body: JSON, target: str, *, known: bool, adopt: bool
    ) -> JSON | tuple[str, str]:
        """The copy as the cluster stored it, or (reason, message) of why it could not be applied."""
        resource = ref.resource
        namespace = body["metadata"]["namespace"]
        what = f"{ref.kind} {ref.name}"
        try:
            if not known:
                with contextlib.suppress(NotFoundError):
                    existing = await client.get(resource, ref.name, namespace=namespace)
                    if not adopt and not _ours(existing, body):
                        return (
                            "Conflict",
                            f"{what} already exists in namespace {namespace} on cluster {target} and is not managed"
                            f" by TMC; annotate the workload {CONFLICT_RESOLUTION}=Overwrite to adopt it",
                        )
            result = await client.apply(resource, body, field_manager=FIELD_MANAGER, force=True)
        except TransportError as exc:
            return ("Unreachable", f"{what}: {exc.message}"[:MESSAGE_MAX])
        except ApiError as exc:
            if exc.status_code >= 500 or exc.status_code == 429:
                return ("ClusterError", f"{what}: cluster answered {exc.status_code}: {exc.message}"[:MESSAGE_MAX])
            return ("Rejected", f"cluster {target} rejected {what}: {exc.message}"[:MESSAGE_MAX])
        return result

    # -- cleanup ----------------------------------------------------------------------------------------

    async def _delete_objects(
        self, client: KubeClient, key: ObjectKey, target: str, namespace: str, objects: list[JSON], *, binding: str
    ) -> list[JSON]:
        """Deletes ``objects`` from the cluster (dependencies only if no other binding wants them there); returns
        the ones still present because deleting them failed."""
        held: list[JSON] = []
        for obj in objects:
            ref = ObjectRef(obj.get("apiVersion", ""), obj.get("kind", ""), obj.get("name", ""))
            if (ref.api_version, ref.kind) not in CLUSTER_RESOURCES:
                continue
            if self.wanted_elsewhere(key.cluster, key.namespace, target, ref, binding):
                continue
            body: JSON = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
            if obj.get("uid"):
                body["preconditions"] = {"uid": obj["uid"]}
            try:
                await client.request("DELETE", ref.resource.path(None, namespace=namespace, name=ref.name), body=body)
            except (NotFoundError, ConflictError):
                pass  # gone, or replaced by an object that is not the one TMC applied
            except ApiError:
                held.append(obj)
                continue
            self._forget_copy(client, namespace, ref.kind, ref.name)
        return held

    def _forget_copy(self, client: KubeClient, namespace: str, kind: str, name: str) -> None:
        memory_key = (id(client), namespace, kind, name)
        self._applied_generation.pop(memory_key, None)
        self._applied_at.pop(memory_key, None)

    def forget_connection(self, client: KubeClient) -> None:
        """``client`` was closed: drop what was remembered per its connection, before its ``id`` can be reused
        by another client (the memories are keyed by it) and so they never outlive the connection."""
        connection = id(client)
        for memory in (self._applied_generation, self._applied_at):
            for memory_key in [k for k in memory if k[0] == connection]:
                del memory[memory_key]
        self._known_namespaces = {k for k in self._known_namespaces if k[0] != connection}

    @log_field("cluster", "target")
    async def _clean_cluster(
        self, key: ObjectKey, target: str, previous: JSON, *, orphan: bool, deletion_started: float | None
    ) -> JSON | None:
        objects = list(previous.get("objects", []))
        # Always the namespace this binding maps to, never the one its status records: a tenant can write its own
        # binding's status, and a recorded namespace would let it aim TMC's deletes at anyone's namespace.
        namespace = Locator(key.cluster, key.namespace, target).physical_namespace
        if not objects:
            return None
        timed_out = deletion_started is not None and self.clock() - deletion_started >= self.settings.cleanup_timeout
        try:
            client = await self.clusters.client_for(LogicalClusterPath(key.cluster), target)
            async with self.slots.slot(self.clusters.limiter(LogicalClusterPath(key.cluster), target), key) as free:
                if not free:
                    self._busy.add(key)
                    return previous  # removed once a slot frees
                if orphan:
                    held = await self._orphan_objects(client, namespace, objects)
                else:
                    held = await self._delete_objects(
                        client, key, target, namespace, objects, binding=_binding_name(key)
                    )
        except (ClusterUnavailable, TransportError) as exc:
            reason = exc.reason if isinstance(exc, ClusterUnavailable) else "Unreachable"
            held = objects
            if timed_out:
                await self._record_leak(key, target, namespace, objects)
                return None
            return {
                **previous,
                "applied": False,
                "reason": "CleanupPending",
                "message": f"copies on {target} not yet removed ({reason}): {exc}"[:MESSAGE_MAX],
            }
        if held:
            if timed_out:  # a cluster that keeps refusing the delete (403, 5xx) must not wedge the tenant either
                await self._record_leak(key, target, namespace, held)
                return None
            return {**previous, "applied": False, "reason": "CleanupPending", "objects": held}
        # The janitor may delete the namespace now: the next copy for it checks (and re-creates) it first.
        self._known_namespaces.discard((id(client), namespace))
        self.on_namespace_emptied(key.cluster, key.namespace, target)
        return None

    async def _orphan_objects(self, client: KubeClient, namespace: str, objects: list[JSON]) -> list[JSON]:
        held: list[JSON] = []
        unmark: JSON = {"metadata": {"labels": {MANAGED_LABEL: None}, "annotations": dict.fromkeys(ORIGIN_ANNOTATIONS)}}
        for obj in objects:
            ref = ObjectRef(obj.get("apiVersion", ""), obj.get("kind", ""), obj.get("name", ""))
            if (ref.api_version, ref.kind) not in CLUSTER_RESOURCES:
                continue  # not a kind TMC applies: a record it did not write
            try:
                await client.merge_patch(ref.resource, ref.name, unmark, namespace=namespace)
            except NotFoundError:
                pass
            except ApiError:
                held.append(obj)
                continue
            self._forget_copy(client, namespace, ref.kind, ref.name)
        return held

    async def _record_leak(self, key: ObjectKey, target: str, namespace: str, objects: list[JSON]) -> None:
        """Gives up on an unreachable cluster: the leftovers go into the registration's status for the operator."""
        self.metrics.leaked(target, len(objects))
        moment = _now_text(self.clock())
        left = [
            {
                "namespace": namespace,
                "apiVersion": o.get("apiVersion"),
                "kind": o.get("kind"),
                "name": o.get("name"),
                "origin": f"{key.namespace}/{o.get('name')}",
                "time": moment,
            }
            for o in objects
        ]
        await self._leaks.record(key.cluster, target, left)
        log.warning(
            "cluster %s unreachable past the cleanup timeout: recorded %d leaked copies of %s",
            target,
            len(objects),
            key,
        )

    async def _write_leaks(self, cluster: str, target: str, left: list[JSON]) -> None:
        """One status write of the registration with every leaked copy recorded since the last one."""
        try:
            registration = await self.kcp.get(REGISTRATIONS, target, cluster=LogicalClusterPath(cluster))
        except NotFoundError:
            log.warning("copies left on deleted registration %s in %s: %s", target, cluster, left)
            return

        def desired(current: JSON) -> JSON:
            old = current.get("status") or {}
            return {**old, "orphanedCopies": [*old.get("orphanedCopies", []), *left][-ORPHANED_MAX:]}

        await self.status.write(REGISTRATIONS, registration, desired)

    # -- writes to kcp ----------------------------------------------------------------------------------

    async def _add_finalizer(self, cluster: LogicalClusterPath, ref: ObjectRef, workload: JSON) -> JSON | None:
        self.status.guard(ref.resource, f"add the sync finalizer to {ref.kind} {ref.name}")
        finalizers = [*(workload["metadata"].get("finalizers") or []), SYNC_FINALIZER]
        patch = {"metadata": {"finalizers": finalizers, "resourceVersion": workload["metadata"]["resourceVersion"]}}
        try:
            return await self.kcp.merge_patch(
                ref.resource, ref.name, patch, cluster=cluster, namespace=workload["metadata"]["namespace"]
            )
        except NotFoundError:
            return None

    async def _remove_finalizer(self, cluster: LogicalClusterPath, ref: ObjectRef, workload: JSON) -> None:
        self.status.guard(ref.resource, f"remove the sync finalizer from {ref.kind} {ref.name}")
        finalizers = [f for f in workload["metadata"].get("finalizers") or [] if f != SYNC_FINALIZER]
        patch = {"metadata": {"finalizers": finalizers, "resourceVersion": workload["metadata"]["resourceVersion"]}}
        with contextlib.suppress(NotFoundError):
            await self.kcp.merge_patch(
                ref.resource, ref.name, patch, cluster=cluster, namespace=workload["metadata"]["namespace"]
            )

    async def _release_binding(self, cluster: LogicalClusterPath, binding: JSON) -> None:
        metadata = binding["metadata"]
        self.status.guard(BINDINGS, f"release WorkloadBinding {metadata['name']}")
        finalizers = [f for f in metadata.get("finalizers") or [] if f != SYNC_FINALIZER]
        patch = {"metadata": {"finalizers": finalizers, "resourceVersion": metadata["resourceVersion"]}}
        with contextlib.suppress(NotFoundError):
            await self.kcp.merge_patch(
                BINDINGS, metadata["name"], patch, cluster=cluster, namespace=metadata["namespace"]
            )

    async def _finalize_and_report(
        self,
        cluster: LogicalClusterPath,
        own: ObjectRef,
        workload: JSON,
        entries: list[JSON],
        wanted: Mapping[str, int | None],
        copies: Mapping[str, JSON | None],
    ) -> None:
        """The workload's sync finalizer (once copies may exist), then its aggregated status on the patched object
        (so the status write carries the current resourceVersion instead of conflicting)."""
        if SYNC_FINALIZER not in (workload["metadata"].get("finalizers") or []):
            patched = await self._add_finalizer(cluster, own, workload)
            if patched is not None:
                annotations = dict(patched.get("metadata", {}).get("annotations") or {})
                annotations.setdefault(CLUSTER_ANNOTATION, cluster_of(workload))  # where the status write goes
                metadata = {**patched["metadata"], "annotations": annotations}
                workload = {**patched, "metadata": metadata, "apiVersion": own.api_version, "kind": own.kind}
        await self._write_workload_status(own, workload, entries, wanted, copies)

    async def _write_workload_status(
        self,
        ref: ObjectRef,
        workload: JSON,
        entries: list[JSON],
        wanted: Mapping[str, int | None],
        copies: Mapping[str, JSON | None],
    ) -> None:
        now = _now_text(self.clock())

        def desired(current: JSON) -> JSON | None:
            return aggregate_status(ref.kind, current, entries, wanted, copies, now)

        # The informer strips nothing: write against the object as cached, the writer re-reads on conflict.
        await self.status.write(ref.resource, {**workload, "metadata": dict(workload["metadata"])}, desired)

    async def _write_status(self, binding: JSON, entries: list[JSON], wanted: Mapping[str, int | None]) -> JSON | None:
        moment = datetime.fromtimestamp(self.clock(), UTC).replace(microsecond=0)
        status, reason, message = _applied_condition(entries, wanted)

        def desired(current: JSON) -> JSON:
            old = current.get("status") or {}
            generation = current["metadata"].get("generation")
            conditions = [Condition.model_validate(c) for c in old.get("conditions", [])]
            set_condition(conditions, CONDITION_APPLIED, status, reason, message[:1024], generation, moment)
            return {
                **old,
                "observedGeneration": generation,
                "conditions": [c.to_dict() for c in conditions],
                "clusters": sorted(entries, key=lambda e: e["name"]),
                "summary": _summary(entries, wanted),
            }

        return await self.status.write(BINDINGS, binding, desired)


def _record_of(ref: ObjectRef, copy: JSON) -> JSON:
    """How a binding's status names an object applied on a cluster (its uid: the delete's precondition)."""
    return {"apiVersion": ref.api_version, "kind": ref.kind, "name": ref.name, "uid": copy["metadata"].get("uid")}


def _applied_condition(entries: list[JSON], wanted: Mapping[str, int | None]) -> tuple[ConditionStatus, str, str]:
    wanted_entries = [e for e in entries if e["name"] in wanted]
    failing = [e for e in wanted_entries if not e.get("applied")]
    degraded = [e for e in wanted_entries if e.get("applied") and e.get("reason") not in (None, "Applied")]
    if not wanted:
        pending = [e["name"] for e in entries]
        if pending:
            return "False", "Removing", f"removing copies from {', '.join(pending)}"
        return "False", "NotPlaced", "no cluster is chosen"
    if failing:
        return "False", failing[0].get("reason") or "NotApplied", _per_cluster(failing)
    if degraded:
        return "True", degraded[0].get("reason") or "Applied", _per_cluster(degraded)
    return "True", "Applied", f"applied on {len(wanted_entries)} cluster(s)"


def _summary(entries: list[JSON], wanted: Mapping[str, int | None]) -> str:
    """``name=ready/wanted`` per chosen cluster (``name`` alone when the kind has no replicas)."""
    by_name = {e["name"]: e for e in entries}
    parts = []
    for name, replicas in wanted.items():
        if replicas is None:
            parts.append(name)
            continue
        entry = by_name.get(name, {})
        ready = entry.get("readyReplicas") if entry.get("health") != "Unknown" else None  # a lost cluster's is stale
        parts.append(f"{name}={'?' if ready is None else ready}/{replicas}")
    return ", ".join(parts)[:4096]


def _per_cluster(entries: list[JSON]) -> str:
    return "; ".join(f"{e['name']}: {e.get('message', '')}" for e in entries)


_REFUSALS = frozenset({"Conflict", "Rejected", "NamespaceConflict", "DependencyMissing"})
BUSY = "ClusterBusy"
_TRANSIENT = frozenset({"Unreachable", "ClusterError", "CleanupPending", "NamespaceConflict", BUSY})


def _ours(existing: JSON, body: JSON) -> bool:
    if not is_managed(existing):
        return False
    return origin_of(existing) == origin_of(body)


def _annotation(obj: JSON, key: str) -> str | None:
    value = (obj.get("metadata", {}).get("annotations") or {}).get(key)
    return value if isinstance(value, str) else None


def _hash(bodies: list[JSON]) -> str:
    return hashlib.sha256(json.dumps(bodies, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def _now_text(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: Any) -> float | None:
    if not value:
        return None
    return datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def _deletion_started(binding: JSON, workload: JSON | None) -> float | None:
    """When the deletion that the copies' cleanup holds up began (binding or workload), if one did."""
    moments = [
        _parse_time(binding["metadata"].get("deletionTimestamp")),
        _parse_time(workload["metadata"].get("deletionTimestamp")) if workload is not None else None,
    ]
    present = [m for m in moments if m is not None]
    return min(present) if present else None


def _binding_name(key: ObjectKey) -> str:
    return key.name


def _generation(obj: JSON) -> int | None:
    value = obj.get("metadata", {}).get("generation")
    return int(value) if value is not None else None
