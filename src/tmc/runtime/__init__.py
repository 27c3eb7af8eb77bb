"""The controller runtime every TMC controller reuses.

Hand-written because no Python library offers an informer whose cache is keyed by kcp logical cluster nor
a client-go style rate-limited work queue on asyncio. Pieces, each in its own module:

- ``keys``        ``ObjectKey(cluster, namespace, name)`` and ``key_of(obj)``
- ``queue``       ``WorkQueue``: de-duplicating, per-key serialised, delayed and rate-limited adds
- ``informer``    ``Informer``: paginated LIST + WATCH into a cluster-aware cache, with handlers and indices
- ``reconciler``  the contract: ``async reconcile(key) -> Result``; ``TerminalError`` vs transient errors
- ``controller``  ``Controller``: a queue and N workers around one reconciler
- ``manager``     ``Manager``: informers, then (as leader) controllers; graceful stop
- ``leader``      ``LeaderElector`` over a coordination.k8s.io Lease
- ``health``      ``/metrics``, ``/healthz``, ``/readyz``
- ``metrics``     the Prometheus metrics, on a registry the caller owns
"""

from tmc.runtime.controller import Controller
from tmc.runtime.health import HealthServer
from tmc.runtime.informer import BY_CLUSTER, EventHandler, Informer, ListWatchClient
from tmc.runtime.keys import CLUSTER_ANNOTATION, ObjectKey, key_of
from tmc.runtime.leader import LeaderElector, LeadershipLostError, LeaseClient
from tmc.runtime.logcontext import current_context, get_logger
from tmc.runtime.manager import Manager, install_signal_handlers
from tmc.runtime.metrics import RuntimeMetrics
from tmc.runtime.queue import ExponentialBackoff, WorkQueue
from tmc.runtime.reconciler import Reconciler, Result

__all__ = [
    "BY_CLUSTER",
    "CLUSTER_ANNOTATION",
    "Controller",
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
    "WorkQueue",
    "current_context",
    "get_logger",
    "install_signal_handlers",
    "key_of",
]
