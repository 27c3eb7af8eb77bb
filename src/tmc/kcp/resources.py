"""Kubernetes resource coordinates and the URL paths built from them."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from tmc.api.registry import ResourceInfo
from tmc.kcp.paths import LogicalClusterPath


@dataclass(frozen=True, slots=True)
class Resource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version_path(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    def path(
        self,
        cluster: LogicalClusterPath | None = None,
        *,
        namespace: str | None = None,
        name: str | None = None,
        subresource: str | None = None,
    ) -> str:
        parts = [cluster.url_prefix if cluster else "", self.group_version_path]
        if self.namespaced and namespace:
            parts.append(f"/namespaces/{quote(namespace, safe='')}")
        parts.append(f"/{self.plural}")
        if name:
            parts.append(f"/{quote(name, safe='')}")
            if subresource:
                parts.append(f"/{subresource}")
        return "".join(parts)


NAMESPACES = Resource("", "v1", "namespaces", "Namespace", namespaced=False)
CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap", namespaced=True)
SECRETS = Resource("", "v1", "secrets", "Secret", namespaced=True)
EVENTS = Resource("", "v1", "events", "Event", namespaced=True)
NODES = Resource("", "v1", "nodes", "Node", namespaced=False)
DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment", namespaced=True)
LEASES = Resource("coordination.k8s.io", "v1", "leases", "Lease", namespaced=True)
WORKSPACES = Resource("tenancy.kcp.io", "v1alpha1", "workspaces", "Workspace", namespaced=False)
LOGICAL_CLUSTERS = Resource("core.kcp.io", "v1alpha1", "logicalclusters", "LogicalCluster", namespaced=False)
API_EXPORTS = Resource("apis.kcp.io", "v1alpha2", "apiexports", "APIExport", namespaced=False)
# The seed's example 1 is written against v1alpha1 (``latestResourceSchemas``); kcp still serves it.
API_EXPORTS_V1ALPHA1 = Resource("apis.kcp.io", "v1alpha1", "apiexports", "APIExport", namespaced=False)
API_EXPORT_ENDPOINT_SLICES = Resource(
    "apis.kcp.io", "v1alpha1", "apiexportendpointslices", "APIExportEndpointSlice", namespaced=False
)
API_BINDINGS = Resource("apis.kcp.io", "v1alpha2", "apibindings", "APIBinding", namespaced=False)
API_BINDINGS_V1ALPHA1 = Resource("apis.kcp.io", "v1alpha1", "apibindings", "APIBinding", namespaced=False)
API_RESOURCE_SCHEMAS = Resource("apis.kcp.io", "v1alpha1", "apiresourceschemas", "APIResourceSchema", namespaced=False)


def resource_of(info: ResourceInfo) -> Resource:
    """The REST coordinates of a TMC-defined kind."""
    return Resource(info.group, info.version, info.plural, info.kind, namespaced=info.namespaced)
