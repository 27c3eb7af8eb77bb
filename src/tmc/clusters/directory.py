"""``ClusterDirectory``: from (logical cluster, registration name) to a shared, probed client, or why not.

Inputs are two informers through the APIExport virtual workspace, so nothing is re-read per heartbeat:
ClusterRegistrations (indexed by the Secret they reference) and Secrets (TMC's permission claim). A
registration is *attached* lazily, the first time someone asks for it (the ClusterRegistration reconciler
or the sync engine), so a standby replica with warm caches probes nothing. Attaching reads the Secret from
the cache, passes the kubeconfig through ``policy.check_kubeconfig`` and joins the ``Endpoint`` for its
(server, credential fingerprint), creating it on first use. When a referenced Secret or a registration's
``kubeconfigSecretRef`` changes, attached registrations are resolved again: new credentials mean a new
endpoint (a new client); an endpoint no registration uses any more stops probing and closes its client once
its last session ends. Listeners (``add_listener``) hear the key of every registration whose access or
cluster state changed, and nothing else.

Isolation: a registration's Secret is looked up only under the registration's own logical cluster, so a
registration can never use another tenant's Secret; Secrets of workspaces that did not accept the claim are
not in the cache at all.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from tmc.clusters.endpoint import Endpoint, EndpointKey, EndpointState, ProbeSettings
from tmc.clusters.errors import ClusterUnavailable, CredentialsRefused
from tmc.clusters.lag import LoopLag
from tmc.clusters.metrics import PROBE_BUCKETS, RegistrationReadiness
from tmc.clusters.policy import AddressPolicy, check_kubeconfig
from tmc.clusters.transport import cluster_client
from tmc.kcp.kubeconfig import ClusterAccess
from tmc.kcp.paths import LogicalClusterPath
from tmc.kcp.rest import KubeClient
from tmc.runtime import Informer, ObjectKey, key_of
from tmc.runtime.keys import cluster_of

log = logging.getLogger(__name__)

JSON = dict[str, Any]
SECRET_INDEX = "tmc.kcp.io/kubeconfig-secret"
Listener = Callable[[ObjectKey], None]
ClosedListener = Callable[[KubeClient], None]
ClientFactory = Callable[[ClusterAccess], KubeClient]


def _secret_index_value(cluster: str, namespace: str, name: str) -> str:
    return f"{cluster}|{namespace}/{name}"


def _kubeconfig_ref(registration: JSON) -> tuple[str, str, str] | None:
    ref = (registration.get("spec") or {}).get("kubeconfigSecretRef")
    if not ref:
        return None
    return str(ref.get("namespace", "")), str(ref.get("name", "")), str(ref.get("key") or "kubeconfig")


def secrets_referenced(registration: JSON) -> list[str]:
    """Index function: the registration's Secret, as ``cluster|namespace/name``."""
    ref = _kubeconfig_ref(registration)
    return [] if ref is None else [_secret_index_value(cluster_of(registration), ref[0], ref[1])]


@dataclass(frozen=True, slots=True)
class RegistrationAccess:
    """A registration's way to its cluster: an endpoint, or the problem that stops it (never both)."""

    problem: ClusterUnavailable | None = None
    endpoint: Endpoint | None = None

    @property
    def state(self) -> EndpointState | None:
        return None if self.endpoint is None else self.endpoint.state


class ClusterMetrics:
    def __init__(self, registry: CollectorRegistry | None = None, registrations: Informer | None = None) -> None:
        registry = registry if registry is not None else CollectorRegistry()
        if registrations is not None:
            registry.register(RegistrationReadiness(registrations))
        self.probe_duration = Histogram(
            "tmc_cluster_probe_duration_seconds",
            "Duration of one liveness probe (GET /readyz) of a cluster, by result (Live or why not).",
            ["result"],
            buckets=PROBE_BUCKETS,
            registry=registry,
        )
        self.endpoints = Gauge(
            "tmc_cluster_endpoints", "Pooled cluster clients (one per server and credential).", registry=registry
        )
        self.attached = Gauge("tmc_cluster_registrations_attached", "Registrations resolved.", registry=registry)
        self.changes = Counter(
            "tmc_cluster_state_changes_total", "Endpoint state changes told to listeners.", registry=registry
        )


class ClusterDirectory:
    """See the module docstring; the public surface is documented in ``tmc.clusters``."""

    def __init__(
        self,
        registrations: Informer,
        secrets: Informer,
        *,
        settings: ProbeSettings | None = None,
        policy: AddressPolicy | None = None,
        client_factory: ClientFactory | None = None,
        registry: CollectorRegistry | None = None,
        rng: random.Random | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.registrations = registrations
        self.secrets = secrets
        self.settings = settings or ProbeSettings()
        self.policy = policy or AddressPolicy()
        self._client_factory = client_factory or self._pooled_client
        self._probe_client_factory = client_factory or self._probing_client
        self._rng = rng or random.Random()
        self._wall = wall
        self._metrics = ClusterMetrics(registry, registrations)
        self._listeners: list[Listener] = []
        self._closed_listeners: list[ClosedListener] = []
        self._attached: dict[ObjectKey, RegistrationAccess] = {}
        self._endpoints: dict[EndpointKey, Endpoint] = {}
        self._cluster_slots: dict[str, asyncio.Semaphore] = {}
        self._probe_slots = asyncio.Semaphore(self.settings.probe_concurrency)
        self._lag = LoopLag()
        self._lag_task: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._parsed: dict[tuple[ObjectKey, str], tuple[str, ClusterAccess | ClusterUnavailable]] = {}
        registrations.add_index(SECRET_INDEX, secrets_referenced)
        registrations.add_handler(on_update=self._registration_updated, on_delete=self._registration_deleted)
        secrets.add_handler(
            on_add=self._secret_changed,
            on_update=lambda old, new: None if old is new else self._secret_changed(new),
            on_delete=self._secret_changed,
        )

    # -- lifecycle ------------------------------------------------------------------------------------

    async def __aenter__(self) -> ClusterDirectory:
        self._lag_task = asyncio.create_task(self._lag.run(), name="cluster-directory-loop-lag")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._lag_task is not None:
            self._lag_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lag_task
            self._lag_task = None
        endpoints = list(self._endpoints.values())
        self._endpoints.clear()
        self._attached.clear()
        await asyncio.gather(*(endpoint.close() for endpoint in endpoints), *self._closing)

    # -- the API --------------------------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def add_closed_listener(self, listener: ClosedListener) -> None:
        """``listener`` hears the client of every endpoint closed because no registration uses it any more (its
        registrations went, or changed credentials): whatever runs on that client (watches) must stop with it."""
        self._closed_listeners.append(listener)

    def access(self, key: ObjectKey) -> RegistrationAccess:
        """The registration's access, attaching it (and starting its endpoint's probes) on first use."""
        current = self._attached.get(key)
        if current is not None:
            return current
        if self.registrations.get(key) is None:
            # Not remembered: only registrations that exist are attached (no entry per unknown name asked for).
            return RegistrationAccess(
                problem=ClusterUnavailable("RegistrationNotFound", f"no ClusterRegistration {key.name}")
            )
        return self._attach(key)

    def forget(self, key: ObjectKey) -> None:
        """The registration is gone (or being deleted): release its endpoint."""
        current = self._attached.pop(key, None)
        if current is not None and current.endpoint is not None:
            self._release(current.endpoint, key)
        self._metrics.attached.set(len(self._attached))

    async def client_for(self, cluster: LogicalClusterPath, registration: str) -> KubeClient:
        return (await self._usable(cluster, registration)).client

    def limiter(self, cluster: LogicalClusterPath, registration: str) -> asyncio.Semaphore:
        """The semaphore bounding concurrent work on the registration's cluster (one per server)."""
        access = self.access(ObjectKey(str(cluster), "", registration))
        if access.problem is not None:
            raise access.problem
        assert access.endpoint is not None
        return self._cluster_slots[access.endpoint.key.server]

    @contextlib.asynccontextmanager
    async def session(self, cluster: LogicalClusterPath, registration: str) -> AsyncIterator[KubeClient]:
        endpoint = await self._usable(cluster, registration)
        async with self._cluster_slots[endpoint.key.server], endpoint.session() as client:
            yield client

    def endpoint_count(self) -> int:
        return len(self._endpoints)

    # -- resolving ------------------------------------------------------------------------------------

    async def _usable(self, cluster: LogicalClusterPath, registration: str) -> Endpoint:
        key = ObjectKey(str(cluster), "", registration)
        obj = self.registrations.get(key)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            raise ClusterUnavailable("RegistrationNotFound", f"no ClusterRegistration {registration} in {cluster}")
        access = self.access(key)
        if access.problem is not None:
            raise access.problem
        assert access.endpoint is not None
        endpoint = access.endpoint
        if endpoint.state is None:
            # Just attached: its first probe is under way and bounded by the probe deadline.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.probe_timeout * 2):
                    await endpoint.wait_probed()
        state = endpoint.state
        if state is None:
            raise ClusterUnavailable("NotProbedYet", "the cluster has not answered its first probe yet")
        if not state.usable and not _reported_ready(obj):
            # A failed heartbeat is tolerated for the grace period, and the registration's Ready condition is
            # where that verdict lives (its controller alone judges the grace): a probe that timed out once on a
            # loaded machine must not make every copy on a live cluster count for nothing.
            raise ClusterUnavailable(state.reason, state.message)
        return endpoint

    def _resolve(self, key: ObjectKey) -> ClusterAccess | ClusterUnavailable:
        registration = self.registrations.get(key)
        if registration is None:
            return ClusterUnavailable("RegistrationNotFound", f"no ClusterRegistration {key.name}")
        ref = _kubeconfig_ref(registration)
        if ref is None:
            return CredentialsRefused(
                "NoKubeconfigSecretRef",
                "spec.kubeconfigSecretRef is not set: create a Secret with the cluster's kubeconfig in this"
                " workspace and reference it (namespace, name, key)",
            )
        namespace, name, data_key = ref
        where = f"Secret {namespace}/{name}"
        secret = self.secrets.get(ObjectKey(key.cluster, namespace, name))
        if secret is None:
            return CredentialsRefused(
                "SecretNotFound",
                f"{where} (spec.kubeconfigSecretRef) does not exist in this workspace, or the workspace's binding"
                " does not accept TMC's permission claim on secrets (`tmc bind <workspace>` accepts it)",
            )
        # Many registrations may share one Secret: parse each version of it once.
        cache_key = (ObjectKey(key.cluster, namespace, name), data_key)
        version = str(secret["metadata"].get("resourceVersion", ""))
        cached = self._parsed.get(cache_key)
        if cached is not None and cached[0] == version:
            return cached[1]
        result = self._parse(secret, where, data_key)
        self._parsed[cache_key] = (version, result)
        return result

    @staticmethod
    def _parse(secret: JSON, where: str, data_key: str) -> ClusterAccess | ClusterUnavailable:
        encoded = (secret.get("data") or {}).get(data_key)
        if not encoded:
            return CredentialsRefused(
                "KubeconfigKeyMissing", f"{where} has no data key {data_key!r} (spec.kubeconfigSecretRef.key)"
            )
        try:
            text = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, ValueError):
            return CredentialsRefused("InvalidKubeconfig", f"{where} key {data_key!r} is not base64-encoded text")
        try:
            return check_kubeconfig(text, source=f"{where} key {data_key!r}")
        except CredentialsRefused as exc:
            return exc

    def _attach(self, key: ObjectKey) -> RegistrationAccess:
        resolved = self._resolve(key)
        if isinstance(resolved, ClusterUnavailable):
            new = RegistrationAccess(problem=resolved)
        else:
            endpoint_key = EndpointKey(resolved.server, resolved.fingerprint())
            endpoint = self._endpoints.get(endpoint_key) or self._new_endpoint(endpoint_key, resolved)
            endpoint.users.add(key)
            new = RegistrationAccess(endpoint=endpoint)
        previous = self._attached.get(key)
        self._attached[key] = new
        if previous is not None and previous.endpoint is not None and previous.endpoint is not new.endpoint:
            self._release(previous.endpoint, key)
        self._metrics.attached.set(len(self._attached))
        return new

    def _new_endpoint(self, key: EndpointKey, access: ClusterAccess) -> Endpoint:
        endpoint = Endpoint(
            key=key,
            client=self._client_factory(access),
            probe_client=self._probe_client_factory(access),
            settings=self.settings,
            probe_slots=self._probe_slots,
            lag=self._lag,
            on_change=self._endpoint_changed,
            on_probed=lambda result, seconds: self._metrics.probe_duration.labels(result).observe(seconds),
            rng=self._rng,
            wall=self._wall,
        )
        self._endpoints[key] = endpoint
        self._cluster_slots.setdefault(key.server, asyncio.Semaphore(self.settings.cluster_concurrency))
        endpoint.start()
        self._metrics.endpoints.set(len(self._endpoints))
        log.info("cluster endpoint %s opened", key)
        return endpoint

    def _release(self, endpoint: Endpoint, key: ObjectKey) -> None:
        endpoint.users.discard(key)
        if endpoint.users or self._endpoints.get(endpoint.key) is not endpoint:
            return
        del self._endpoints[endpoint.key]
        if not any(other.server == endpoint.key.server for other in self._endpoints):
            slots = self._cluster_slots.get(endpoint.key.server)
            if slots is not None and not slots.locked():
                del self._cluster_slots[endpoint.key.server]
        self._metrics.endpoints.set(len(self._endpoints))
        log.info("cluster endpoint %s closed: no registration uses it", endpoint.key)
        for listener in self._closed_listeners:
            try:
                listener(endpoint.client)
            except Exception:
                log.exception("cluster directory closed-listener failed for %s", endpoint.key)
        task = asyncio.create_task(endpoint.close(), name=f"close-{endpoint.key}")
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def _pooled_client(self, access: ClusterAccess) -> KubeClient:
        return cluster_client(
            access,
            self.policy,
            timeout=max(self.settings.probe_timeout, 30.0),
            http2=self.settings.http2,
            max_connections=self.settings.connections_per_client,
            user_agent="tmc-cluster-access",
        )

    def _probing_client(self, access: ClusterAccess) -> KubeClient:
        # One request at a time (liveness, then facts): one connection, kept alive between heartbeats.
        return cluster_client(
            access,
            self.policy,
            timeout=max(self.settings.probe_timeout, 30.0),  # each probe step sets its own, shorter deadline
            http2=self.settings.http2,
            max_connections=1,
            user_agent="tmc-cluster-probe",
        )

    # -- events ---------------------------------------------------------------------------------------

    def _notify(self, key: ObjectKey) -> None:
        for listener in self._listeners:
            try:
                listener(key)
            except Exception:
                log.exception("cluster directory listener failed for %s", key)

    def _endpoint_changed(self, endpoint: Endpoint) -> None:
        self._metrics.changes.inc()
        for key in list(endpoint.users):
            self._notify(key)

    def _reattach(self, key: ObjectKey) -> None:
        """Resolve an attached registration again; tell listeners if its access changed."""
        previous = self._attached.get(key)
        if previous is None:
            return  # not attached: resolved when first asked for
        current = self._attach(key)
        if current.endpoint is not previous.endpoint or _problem(current) != _problem(previous):
            self._notify(key)

    def _secret_changed(self, secret: JSON) -> None:
        metadata = secret.get("metadata") or {}
        secret_key = ObjectKey(cluster_of(secret), metadata.get("namespace") or "", metadata.get("name", ""))
        for cached in [cached for cached in self._parsed if cached[0] == secret_key]:
            del self._parsed[cached]
        value = _secret_index_value(cluster_of(secret), metadata.get("namespace") or "", metadata.get("name", ""))
        for registration in self.registrations.by_index(SECRET_INDEX, value):
            self._reattach(key_of(registration))

    def _registration_updated(self, old: JSON, new: JSON) -> None:
        if _kubeconfig_ref(old) != _kubeconfig_ref(new):
            self._reattach(key_of(new))
        elif _reported_ready(old) != _reported_ready(new) and key_of(new) in self._attached:
            self._notify(key_of(new))  # the grace ran out (or it is back): whether it is usable changed

    def _registration_deleted(self, obj: JSON) -> None:
        key = key_of(obj)
        if key in self._attached:
            self.forget(key)
            self._notify(key)


def _reported_ready(registration: JSON) -> bool:
    conditions = (registration.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _problem(access: RegistrationAccess) -> tuple[str, str] | None:
    return None if access.problem is None else (access.problem.reason, access.problem.message)
