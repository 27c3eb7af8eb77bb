"""TMC: Tenant Multi-Cluster for kcp.

Layers, imports pointing downward only:
``tmc.api`` (types, schemas) -> ``tmc.kcp`` (addressing kcp) -> ``tmc.runtime`` (informers, queues)
-> ``tmc.placement`` (pure engine) -> ``tmc.controllers`` -> ``tmc.cli`` / ``tmc.local``.
"""

__version__ = "0.1.0"
