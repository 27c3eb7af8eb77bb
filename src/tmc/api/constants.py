"""Names shared by every layer of TMC: API group, export names, well-known labels and conditions."""

from __future__ import annotations

from typing import Final

GROUP: Final = "tmc.kcp.io"
"""API group of the TMC types."""

VERSION: Final = "v1alpha1"
"""The only (served and storage) version of the TMC types."""

API_VERSION: Final = f"{GROUP}/{VERSION}"
"""``apiVersion`` of TMC objects."""

EXPORT_NAME: Final = "tmc.kcp.io"
"""Name of the APIExport (in ``root:tmc``) that serves ClusterRegistration and WorkloadPlacement."""

WORKLOADS_EXPORT_NAME: Final = "kubernetes"
"""Name of the APIExport (also in ``root:tmc``) serving workload kinds kcp does not serve itself."""

LOCATION_LABEL: Final = "tmc.kcp.io/location"
"""Label under which ``spec.location`` of a ClusterRegistration becomes selectable."""

CATEGORY: Final = "tmc"
"""``kubectl get tmc`` lists every TMC object."""

CONDITION_READY: Final = "Ready"
"""ClusterRegistration condition: the cluster is reachable and heartbeating."""

CONDITION_SCHEDULED: Final = "Scheduled"
"""WorkloadPlacement condition: every selected workload has a placement decision."""

CONDITION_APPLIED: Final = "Applied"
"""WorkloadBinding condition: every chosen cluster has the workload's current spec."""

SYNC_FINALIZER: Final = "tmc.kcp.io/sync"
"""Finalizer on a tenant's workload and its WorkloadBinding while copies of it may exist on clusters."""

PLACEMENT_LABEL: Final = "tmc.kcp.io/placement"
"""Label on a WorkloadBinding naming the WorkloadPlacement that decided it (``placement_label``: shortened with a
hash past 63 characters; ``spec.placement`` has the whole name)."""
