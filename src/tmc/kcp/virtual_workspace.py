"""Finding an APIExport's virtual workspace URL, the one endpoint TMC's controllers watch all tenants through.

kcp publishes it in the APIExportEndpointSlice it creates next to the export (same name), and fills in a
shard's URL only once some workspace on that shard binds the export; until then there is nothing to watch.
"""

from __future__ import annotations

from tmc.kcp.paths import LogicalClusterPath
from tmc.kcp.resources import API_EXPORT_ENDPOINT_SLICES
from tmc.kcp.rest import JSON, KubeClient
from tmc.kcp.watching import wait_for_object


def endpoint_urls(endpoint_slice: JSON) -> list[str]:
    return [
        str(endpoint["url"])
        for endpoint in endpoint_slice.get("status", {}).get("endpoints", [])
        if endpoint.get("url")
    ]


async def export_virtual_workspace_url(
    client: KubeClient, workspace: LogicalClusterPath, export_name: str, *, timeout: float = 120.0
) -> str:
    """The first endpoint URL of the export's slice, waiting (by watch) until kcp publishes one."""
    endpoint_slice = await wait_for_object(
        client,
        API_EXPORT_ENDPOINT_SLICES,
        export_name,
        lambda obj: bool(endpoint_urls(obj)),
        cluster=workspace,
        timeout=timeout,
    )
    return endpoint_urls(endpoint_slice)[0]
