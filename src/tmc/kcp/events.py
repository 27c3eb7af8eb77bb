"""Recording Kubernetes Events about an object in its own logical cluster.

Repeated identical events are folded into one object (count, lastTimestamp), as client-go's recorder does,
so a flapping condition cannot flood a workspace. Messages must never contain credentials; callers pass
messages built from names and reasons only.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from tmc.errors import ConflictError
from tmc.kcp.paths import LogicalClusterPath
from tmc.kcp.resources import EVENTS
from tmc.kcp.rest import JSON, KubeClient

COMPONENT = "tmc"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def record_event(
    client: KubeClient,
    cluster: LogicalClusterPath,
    involved: JSON,
    *,
    event_type: str,
    reason: str,
    message: str,
    namespace: str = "default",
) -> None:
    metadata = involved["metadata"]
    digest = hashlib.sha256(f"{metadata.get('uid', '')}/{reason}/{message}".encode()).hexdigest()[:10]
    name = f"{metadata['name']}.{digest}"
    now = _now()
    event_namespace = metadata.get("namespace") or namespace
    body: JSON = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": event_namespace},
        "involvedObject": {
            "apiVersion": involved.get("apiVersion", ""),
            "kind": involved.get("kind", ""),
            "name": metadata["name"],
            "namespace": metadata.get("namespace", ""),
            "uid": metadata.get("uid", ""),
        },
        "type": event_type,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": COMPONENT},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
    try:
        await client.create(EVENTS, body, cluster=cluster, namespace=event_namespace)
    except ConflictError:
        existing = await client.get(EVENTS, name, cluster=cluster, namespace=event_namespace)
        await client.merge_patch(
            EVENTS,
            name,
            {"count": int(existing.get("count") or 1) + 1, "lastTimestamp": now},
            cluster=cluster,
            namespace=event_namespace,
        )
