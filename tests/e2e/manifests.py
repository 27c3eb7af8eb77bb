"""Manifests the e2e tests create in tenant workspaces."""

from __future__ import annotations

from typing import Any


def deployment(name: str, *, replicas: int = 2, image: str = "nginx:1.27") -> dict[str, Any]:
    """A plain Deployment ``name`` in namespace ``default``, its pods labelled ``app: name``."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": image}]},
            },
        },
    }
