"""The controller runtime every TMC controller reuses.

Hand-written because no Python library offers an informer whose cache is keyed by kcp logical cluster nor
a client-go style rate-limited work queue on asyncio. Pieces, each in its own module:

- ``clock``       ``Clock``: the one source of monotonic time, wall time and timers (``SYSTEM_CLOCK``)
- ``backoff``     ``ExponentialBackoff``: the one backoff (per key, capped, optional jitter)
- ``keys``        ``ObjectKey(cluster, namespace, name)`` and ``key_of(obj)``
- ``queue``       ``WorkQueue``: de-duplicating, per-key serialised, delayed and rate-limited adds
- ``informer``    ``Informer``: paginated LIST + WATCH of one or several endpoints into a cluster-aware cache
- ``reconciler``  the contract: ``async reconcile(key) -> Result``; ``TerminalError`` vs transient errors
- ``controller``  ``Controller``: a queue and N workers around one reconciler
- ``status``      ``StatusWriter``: the one writer of status subresources (no-op skip, conflicts, fence)
- ``leader``      ``LeaderElector`` over a coordination.k8s.io Lease, expiry judged by local observation
- ``manager``     ``Manager``: the composition root: health, informers, leader election, controllers
- ``health``      ``/metrics``, ``/healthz``, ``/readyz``
- ``metrics``     the Prometheus metrics, on a registry the caller owns
"""

from tmc.runtime.backoff import ExponentialBackoff
from tmc.runtime.clock import SYSTEM_CLOCK, Clock
from tmc.runtime.controller import Controller
from tmc.runtime.health import HealthServer
from tmc.runtime.informer import BY_CLUSTER, EndpointSet, EventHandler, Informer, ListWatchClient
from tmc.runtime.keys import CLUSTER_ANNOTATION, ObjectKey, key_of
from tmc.runtime.leader import LeaderElector, LeadershipLostError, LeaseClient, default_identity
from tmc.runtime.logcontext import current_context, get_logger
from tmc.runtime.manager import Manager, install_signal_handlers
from tmc.runtime.metrics import RuntimeMetrics
from tmc.runtime.queue import WorkQueue
from tmc.runtime.reconciler import Reconciler, Result
from tmc.runtime.status import StatusWriter

__all__ = [
    "BY_CLUSTER",
    "CLUSTER_ANNOTATION",
    "SYSTEM_CLOCK",
    "Clock",
    "Controller",
    "EndpointSet",
    "EventHandler",
    "ExponentialBackoff",
    "HealthServer",
    "Informer",
    "LeaderElector",
    "LeadershipLostError",
    "LeaseClient",
    "ListWatchClient",
    "Manager",
    "ObjectKey",
    "Reconciler",
    "Result",
    "RuntimeMetrics",
    "StatusWriter",
    "WorkQueue",
    "current_context",
    "default_identity",
    "get_logger",
    "install_signal_handlers",
    "key_of",
]
