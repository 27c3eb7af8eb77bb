"""Access to tenants' physical clusters: one pooled, probed, policy-checked client per cluster and credential.

Sits beside ``tmc.kcp`` (which talks to kcp) and below the controllers. Every controller that talks to a
physical cluster goes through one ``ClusterDirectory``; nothing else builds a client from a tenant Secret.

Use (the sync engine, for example)::

    directory = clusters.setup(manager, virtual_workspace, settings=..., policy=...)  # wiring, once
    async with directory:                                                      # probes run inside
        ...
        # in a reconcile, for the registration named in a placement decision:
        try:
            async with directory.session(logical_cluster, "us-west-1") as client:  # per-cluster limit
                await client.apply(...)
        except ClusterUnavailable as exc:       # exc.reason / exc.message: safe to show the tenant
            return Result(requeue_after=...)    # or wait for a listener callback, see below

``await ClusterDirectory.client_for(cluster: LogicalClusterPath, registration: str) -> KubeClient``
    The shared client of the registration's cluster, if the cluster is usable now (its latest heartbeat
    was live and its facts were read); else raises ``ClusterUnavailable(reason, message)`` with reasons such
    as ``RegistrationNotFound``, ``NoKubeconfigSecretRef``, ``SecretNotFound``, a policy refusal
    (``ExecPluginNotAllowed``, ``ServerAddressNotAllowed``, ...; subclasses ``CredentialsRefused`` /
    ``AddressNotAllowed``), ``NotProbedYet``, ``Timeout``, ``Unreachable``, ``Unauthorized``, ``Forbidden``.
    Right after attaching it waits (at most two probe deadlines) for the first probe. The client stays
    valid until the registration's credentials change; take a new one per reconcile and do not keep it.
``ClusterDirectory.limiter(cluster, registration) -> asyncio.Semaphore``
    The cluster's concurrency limit (``cluster_concurrency`` slots, one semaphore per server).
``ClusterDirectory.session(cluster, registration)``
    Like ``client_for``, as an async context manager that also holds one of the cluster's slots of the
    limiter, so a slow cluster holds back only its own work, and that keeps the client open until the block
    ends even if the Secret changes meanwhile. ``client_for`` and ``limiter`` are the sync engine's
    ``ClusterClients`` seam.
``ClusterDirectory.add_listener(callback(ObjectKey))``
    Called with a registration's key whenever its access or its cluster's state changes (became usable,
    went down, new credentials): enqueue the work that waits for it.
``ClusterDirectory.access(key) -> RegistrationAccess``
    What the ClusterRegistration controller reports: the credential problem or the endpoint with its
    ``EndpointState`` (liveness, facts, last successful heartbeat).

Health, in short: one liveness request (``/readyz``) per endpoint per heartbeat, jittered, on its own task
under a process-wide probe semaphore (never on a reconcile worker); version, discovery and capacity every
``facts_period`` or when a cluster comes back; a timeout while the event loop itself was late does not count.

Pieces: ``policy`` (tenant kubeconfig allow-list, address policy), ``transport`` (connect-time address
check, bounded answers, connection reuse), ``probe`` (liveness and facts requests), ``endpoint`` (one client and one
heartbeat loop per server and credential), ``lag`` (event-loop lateness), ``directory``, ``errors``.
"""

from __future__ import annotations

from tmc.api import CLUSTER_REGISTRATION
from tmc.clusters.directory import SECRET_INDEX, ClusterDirectory, RegistrationAccess
from tmc.clusters.endpoint import Endpoint, EndpointKey, EndpointState, ProbeSettings
from tmc.clusters.errors import ADDRESS_NOT_ALLOWED, AddressNotAllowed, ClusterUnavailable, CredentialsRefused
from tmc.clusters.policy import AddressPolicy, check_kubeconfig, resolve_endpoints
from tmc.clusters.probe import Facts, FactsProblem, Liveness
from tmc.clusters.transport import cluster_client
from tmc.kcp.paths import ALL_CLUSTERS
from tmc.kcp.resources import SECRETS, Resource, resource_of
from tmc.kcp.rest import KubeClient
from tmc.runtime import Informer, Manager

__all__ = [
    "ADDRESS_NOT_ALLOWED",
    "SECRET_INDEX",
    "AddressNotAllowed",
    "AddressPolicy",
    "ClusterDirectory",
    "ClusterUnavailable",
    "CredentialsRefused",
    "Endpoint",
    "EndpointKey",
    "EndpointState",
    "Facts",
    "FactsProblem",
    "Liveness",
    "ProbeSettings",
    "RegistrationAccess",
    "check_kubeconfig",
    "cluster_client",
    "resolve_endpoints",
    "setup",
]


def setup(
    manager: Manager,
    virtual_workspace: KubeClient,
    *,
    settings: ProbeSettings | None = None,
    policy: AddressPolicy | None = None,
    resync_period: float | None = 60.0,
) -> ClusterDirectory:
    """A directory over two informers it adds to ``manager``: ClusterRegistrations and Secrets.

    Controllers that need registrations share ``directory.registrations`` rather than watching again.
    Secrets are watched across every bound workspace through the virtual workspace (TMC's permission claim);
    the informer's cache holds them, so a heartbeat never reads a Secret.
    """

    def informer(resource: Resource) -> Informer:
        # One watch per resource and client in a process: reuse an informer another controller added.
        path = resource.path(ALL_CLUSTERS)
        for existing in manager.informers:
            if existing.client is virtual_workspace and existing.path == path:
                return existing
        return manager.add_informer(
            Informer(
                virtual_workspace, resource, cluster=ALL_CLUSTERS, resync_period=resync_period, metrics=manager.metrics
            )
        )

    registrations, secrets = informer(resource_of(CLUSTER_REGISTRATION)), informer(SECRETS)
    return ClusterDirectory(registrations, secrets, settings=settings, policy=policy, registry=manager.metrics.registry)
