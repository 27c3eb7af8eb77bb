"""From a tenant's object in kcp to the copy applied on a physical cluster, and what the copy depends on. Pure.

A copy keeps the tenant's intent (spec, labels, user annotations) and loses what the source server set or what
means something only in kcp: uid, resourceVersion, generation, managedFields, ownerReferences, finalizers,
status, kcp's annotations (``kcp.io/cluster`` ...), TMC's own instructions (``tmc.kcp.io/...``), Service cluster
IPs and node ports, a PVC's bound volume. It gains the managed label, its origin and the source generation, and
the replica count its binding assigns.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tmc.controllers.sync.naming import (
    MANAGED_LABEL,
    ORIGIN_CLUSTER,
    ORIGIN_KIND,
    ORIGIN_NAME,
    ORIGIN_NAMESPACE,
    ORIGIN_UID,
    SOURCE_GENERATION,
)
from tmc.kcp.resources import Resource

JSON = dict[str, Any]

CONFIGMAP = Resource("", "v1", "configmaps", "ConfigMap", namespaced=True)
SECRET = Resource("", "v1", "secrets", "Secret", namespaced=True)
SERVICE_ACCOUNT = Resource("", "v1", "serviceaccounts", "ServiceAccount", namespaced=True)
PVC = Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", namespaced=True)

# Every kind TMC may apply on a cluster: placeable workloads and the dependencies that travel with them.
CLUSTER_RESOURCES: dict[tuple[str, str], Resource] = {
    (r.api_version, r.kind): r
    for r in (
        Resource("apps", "v1", "deployments", "Deployment", namespaced=True),
        Resource("apps", "v1", "statefulsets", "StatefulSet", namespaced=True),
        Resource("apps", "v1", "daemonsets", "DaemonSet", namespaced=True),
        Resource("batch", "v1", "jobs", "Job", namespaced=True),
        Resource("batch", "v1", "cronjobs", "CronJob", namespaced=True),
        Resource("", "v1", "services", "Service", namespaced=True),
        Resource("networking.k8s.io", "v1", "ingresses", "Ingress", namespaced=True),
        CONFIGMAP,
        SECRET,
        SERVICE_ACCOUNT,
        PVC,
    )
}
DEPENDENCY_KINDS = ("ConfigMap", "Secret", "ServiceAccount", "PersistentVolumeClaim")
REPLICATED_KINDS = frozenset({"Deployment", "StatefulSet"})

_SERVER_SET_METADATA = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "ownerReferences",
    "finalizers",
    "selfLink",
    "generateName",
)
# Annotations whose meaning ends at kcp or at TMC itself; by domain suffix.
_DROPPED_ANNOTATION_DOMAINS = ("kcp.io",)
_DROPPED_ANNOTATIONS = frozenset(
    {"deployment.kubernetes.io/revision", "kubectl.kubernetes.io/last-applied-configuration"}
)
# Names every cluster provides itself in each namespace: never copied, never deleted.
_CLUSTER_PROVIDED = frozenset({("ServiceAccount", "default"), ("ConfigMap", "kube-root-ca.crt")})


@dataclass(frozen=True, slots=True, order=True)
class ObjectRef:
    """An object in the same namespace: what a copy or a dependency is, on both sides."""

    api_version: str
    kind: str
    name: str

    @property
    def resource(self) -> Resource:
        return CLUSTER_RESOURCES[(self.api_version, self.kind)]

    @classmethod
    def of_binding(cls, binding: JSON) -> ObjectRef:
        """The workload a WorkloadBinding places (``spec.workload``)."""
        ref = binding.get("spec", {}).get("workload", {})
        return cls(str(ref.get("apiVersion", "")), str(ref.get("kind", "")), str(ref.get("name", "")))


def _dropped_annotation(key: str) -> bool:
    if key in _DROPPED_ANNOTATIONS:
        return True
    domain = key.split("/", 1)[0] if "/" in key else ""
    return any(domain == d or domain.endswith("." + d) for d in _DROPPED_ANNOTATION_DOMAINS)


def prepare_copy(
    source: JSON,
    *,
    logical_cluster: str,
    physical_namespace: str,
    replicas: int | None,
) -> JSON:
    """The object to server-side apply on the cluster for ``source`` (a workload or a dependency)."""
    kind = source["kind"]
    metadata = source["metadata"]
    out = copy.deepcopy({key: value for key, value in source.items() if key != "status"})
    meta: JSON = {
        key: value
        for key, value in out.get("metadata", {}).items()
        if key not in _SERVER_SET_METADATA and key != "namespace"
    }
    meta["namespace"] = physical_namespace
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if not _dropped_annotation(k)}
    annotations.update(
        {
            ORIGIN_CLUSTER: logical_cluster,
            ORIGIN_NAMESPACE: metadata.get("namespace", ""),
            ORIGIN_NAME: metadata["name"],
            ORIGIN_KIND: kind,
            ORIGIN_UID: metadata.get("uid", ""),
            SOURCE_GENERATION: str(metadata.get("generation", "")),
        }
    )
    meta["annotations"] = annotations
    meta["labels"] = {**(meta.get("labels") or {}), MANAGED_LABEL: "true"}
    out["metadata"] = meta
    if kind == "ServiceAccount":
        out.pop("secrets", None)  # token Secrets of kcp's account; the cluster mints its own
    spec = out.get("spec")
    if isinstance(spec, dict):
        if kind in REPLICATED_KINDS and replicas is not None:
            spec["replicas"] = replicas
        if kind == "Service":
            for field in ("clusterIP", "clusterIPs", "healthCheckNodePort"):
                spec.pop(field, None)
            for port in spec.get("ports") or []:
                port.pop("nodePort", None)
        elif kind == "PersistentVolumeClaim":
            spec.pop("volumeName", None)
    return out


def pod_template(workload: JSON) -> JSON | None:
    spec = workload.get("spec") or {}
    if workload.get("kind") == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    template = spec.get("template")
    return template.get("spec") if isinstance(template, dict) else None


def dependencies(workload: JSON) -> list[ObjectRef]:
    """ConfigMaps, Secrets, ServiceAccounts and PVCs the workload's pod template references, sorted, unique."""
    pod = pod_template(workload)
    if not pod:
        return []
    found = set(_references(pod))
    return sorted(ref for ref in found if ref.name and (ref.kind, ref.name) not in _CLUSTER_PROVIDED)


def _references(pod: JSON) -> Iterator[ObjectRef]:
    def configmap(name: Any) -> ObjectRef:
        return ObjectRef("v1", "ConfigMap", str(name or ""))

    def secret(name: Any) -> ObjectRef:
        return ObjectRef("v1", "Secret", str(name or ""))

    for volume in pod.get("volumes") or []:
        if volume.get("configMap"):
            yield configmap(volume["configMap"].get("name"))
        if volume.get("secret"):
            yield secret(volume["secret"].get("secretName"))
        if volume.get("persistentVolumeClaim"):
            yield ObjectRef("v1", "PersistentVolumeClaim", str(volume["persistentVolumeClaim"].get("claimName", "")))
        for source in (volume.get("projected") or {}).get("sources") or []:
            if source.get("configMap"):
                yield configmap(source["configMap"].get("name"))
            if source.get("secret"):
                yield secret(source["secret"].get("name"))
    containers = [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]
    for container in containers:
        for env in container.get("env") or []:
            value_from = env.get("valueFrom") or {}
            if value_from.get("configMapKeyRef"):
                yield configmap(value_from["configMapKeyRef"].get("name"))
            if value_from.get("secretKeyRef"):
                yield secret(value_from["secretKeyRef"].get("name"))
        for env_from in container.get("envFrom") or []:
            if env_from.get("configMapRef"):
                yield configmap(env_from["configMapRef"].get("name"))
            if env_from.get("secretRef"):
                yield secret(env_from["secretRef"].get("name"))
    for pull_secret in pod.get("imagePullSecrets") or []:
        yield secret(pull_secret.get("name"))
    account = pod.get("serviceAccountName") or pod.get("serviceAccount")
    if account:
        yield ObjectRef("v1", "ServiceAccount", str(account))


def never_copied(dependency: JSON) -> str | None:
    """Why a dependency must not be copied, if it must not: a cluster mints its own service-account tokens."""
    if dependency.get("kind") == "Secret" and dependency.get("type") == "kubernetes.io/service-account-token":
        return "a ServiceAccount token Secret is minted by each cluster and never copied"
    return None
