"""One valid and one invalid manifest per workload kind, shared by the unit tests (committed schemas) and the
e2e tests (kcp and a real kube-apiserver must agree with them).

Each invalid manifest breaks one thing a schema can express, and names the field the refusal must name.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]

LABELS = {"app": "web"}


def _pod_template(**spec: Any) -> JSON:
    return {
        # kubectl create ... --dry-run -o yaml writes `creationTimestamp: null` here; kcp prunes it as the cluster does.
        "metadata": {"labels": dict(LABELS), "creationTimestamp": None},
        "spec": {
            "containers": [
                {
                    "name": "web",
                    "image": "nginx:1.27",
                    "ports": [{"containerPort": 80}],
                    "env": [{"name": "MODE", "value": "prod"}],
                    # A JSON number is a valid quantity on every cluster; kcp must not refuse it.
                    "resources": {"requests": {"cpu": 0.5, "memory": "64Mi"}, "limits": {"cpu": "1"}},
                    "readinessProbe": {"httpGet": {"path": "/", "port": "http"}},
                }
            ],
            **spec,
        },
    }


def _object(api_version: str, kind: str, name: str, spec: JSON) -> JSON:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "labels": dict(LABELS)}, "spec": spec}


VALID: dict[str, JSON] = {
    "Deployment": _object(
        "apps/v1",
        "Deployment",
        "web",
        {
            "replicas": 3,
            "selector": {"matchLabels": dict(LABELS)},
            "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
            "template": _pod_template(),
        },
    ),
    "StatefulSet": _object(
        "apps/v1",
        "StatefulSet",
        "db",
        {
            "replicas": 2,
            "serviceName": "db",
            "selector": {"matchLabels": dict(LABELS)},
            "template": _pod_template(),
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
                }
            ],
        },
    ),
    "DaemonSet": _object(
        "apps/v1",
        "DaemonSet",
        "agent",
        {"selector": {"matchLabels": dict(LABELS)}, "template": _pod_template(nodeSelector={"role": "edge"})},
    ),
    "Job": _object(
        "batch/v1",
        "Job",
        "migrate",
        {"backoffLimit": 2, "template": _pod_template(restartPolicy="Never")},
    ),
    "CronJob": _object(
        "batch/v1",
        "CronJob",
        "nightly",
        {
            "schedule": "0 3 * * *",
            "timeZone": "Etc/UTC",
            "jobTemplate": {"spec": {"template": _pod_template(restartPolicy="OnFailure")}},
        },
    ),
    "Service": _object(
        "v1",
        "Service",
        "web",
        {
            "type": "ClusterIP",
            # Set by the tenant (or copied from another cluster): kcp keeps it, the sync engine strips it.
            "clusterIP": "10.0.0.10",
            "selector": dict(LABELS),
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}, {"name": "https", "port": 443}],
        },
    ),
    "PersistentVolumeClaim": _object(
        "v1",
        "PersistentVolumeClaim",
        "data",
        {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    ),
    "Ingress": _object(
        "networking.k8s.io/v1",
        "Ingress",
        "web",
        {
            "ingressClassName": "nginx",
            "rules": [
                {
                    "host": "web.example.com",
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "web", "port": {"number": 80}}},
                            }
                        ]
                    },
                }
            ],
        },
    ),
}


@dataclass(frozen=True)
class InvalidCase:
    kind: str
    what: str
    field: str  # the path a refusal must name, as the apiserver writes it
    manifest: JSON

    @property
    def id(self) -> str:
        return f"{self.kind}: {self.what}"


def _broken(kind: str, path: list[str | int], value: Any = None, *, delete: bool = False) -> JSON:
    manifest = copy.deepcopy(VALID[kind])
    node: Any = manifest
    for step in path[:-1]:
        node = node[step]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return manifest


_CONTAINER: list[str | int] = ["spec", "template", "spec", "containers", 0]

INVALID: tuple[InvalidCase, ...] = (
    InvalidCase(
        "Deployment", "replicas is a string", "spec.replicas", _broken("Deployment", ["spec", "replicas"], "x")
    ),
    InvalidCase(
        "StatefulSet",
        "a container port is a name",
        "spec.template.spec.containers[0].ports[0].containerPort",
        _broken("StatefulSet", [*_CONTAINER, "ports", 0, "containerPort"], "http"),
    ),
    InvalidCase(
        "DaemonSet",
        "a container has no name",
        "spec.template.spec.containers[0].name",
        _broken("DaemonSet", [*_CONTAINER, "name"], delete=True),
    ),
    InvalidCase("Job", "backoffLimit is a string", "spec.backoffLimit", _broken("Job", ["spec", "backoffLimit"], "3x")),
    InvalidCase("CronJob", "no schedule", "spec.schedule", _broken("CronJob", ["spec", "schedule"], delete=True)),
    InvalidCase(
        "Service",
        "targetPort is neither an integer nor a string",
        "spec.ports[0].targetPort",
        _broken("Service", ["spec", "ports", 0, "targetPort"], True),
    ),
    InvalidCase(
        "PersistentVolumeClaim",
        "accessModes is not a list",
        "spec.accessModes",
        _broken("PersistentVolumeClaim", ["spec", "accessModes"], "ReadWriteOnce"),
    ),
    InvalidCase(
        "Ingress",
        "a path has no pathType",
        "spec.rules[0].http.paths[0].pathType",
        _broken("Ingress", ["spec", "rules", 0, "http", "paths", 0, "pathType"], delete=True),
    ),
)
