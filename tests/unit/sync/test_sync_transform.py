"""What a copy keeps, loses and gains, and which dependencies travel with a workload."""

from __future__ import annotations

from typing import Any

import pytest

from tmc.controllers.sync.naming import MANAGED_LABEL, ORIGIN_CLUSTER, ORIGIN_UID, SOURCE_GENERATION, Locator
from tmc.controllers.sync.transform import ObjectRef, dependencies, never_copied, prepare_copy


def deployment(**pod: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "prod",
            "uid": "u-1",
            "resourceVersion": "42",
            "generation": 7,
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "managedFields": [{"manager": "kubectl"}],
            "ownerReferences": [{"kind": "Thing", "name": "x"}],
            "finalizers": ["tmc.kcp.io/sync"],
            "labels": {"app": "web"},
            "annotations": {
                "kcp.io/cluster": "2abc",
                "tenancy.kcp.io/thing": "x",
                "tmc.kcp.io/deletion-policy": "Orphan",
                "team": "payments",
                "deployment.kubernetes.io/revision": "3",
            },
        },
        "spec": {
            "replicas": 7,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c"}], **pod}},
        },
        "status": {"replicas": 7},
    }


def test_a_copy_loses_server_set_and_kcp_metadata_and_gains_marks_and_its_share_of_replicas() -> None:
    copy = prepare_copy(deployment(), logical_cluster="2abc", physical_namespace="tmc-ns", replicas=3)

    metadata = copy["metadata"]
    assert set(metadata) == {"name", "namespace", "labels", "annotations"}
    assert metadata["namespace"] == "tmc-ns"
    assert metadata["labels"] == {"app": "web", MANAGED_LABEL: "true"}
    assert metadata["annotations"]["team"] == "payments"
    assert not any(k.startswith(("kcp.io/", "tenancy.kcp.io/", "tmc.kcp.io/deletion")) for k in metadata["annotations"])
    assert "deployment.kubernetes.io/revision" not in metadata["annotations"]
    assert metadata["annotations"][ORIGIN_CLUSTER] == "2abc"
    assert metadata["annotations"][ORIGIN_UID] == "u-1"
    assert metadata["annotations"][SOURCE_GENERATION] == "7"
    assert "status" not in copy
    assert copy["spec"]["replicas"] == 3


def test_the_source_object_is_not_modified() -> None:
    source = deployment()
    prepare_copy(source, logical_cluster="c", physical_namespace="n", replicas=1)

    assert source["spec"]["replicas"] == 7
    assert source["metadata"]["namespace"] == "prod"


def test_a_service_copy_leaves_cluster_ips_and_node_ports_to_the_cluster() -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "prod"},
        "spec": {
            "type": "NodePort",
            "clusterIP": "10.0.0.5",
            "clusterIPs": ["10.0.0.5"],
            "ports": [{"port": 80, "nodePort": 30080}],
        },
    }
    spec = prepare_copy(service, logical_cluster="c", physical_namespace="n", replicas=None)["spec"]

    assert spec == {"type": "NodePort", "ports": [{"port": 80}]}


@pytest.mark.parametrize(
    ("pod", "expected"),
    [
        pytest.param({}, [], id="a pod template without references has no dependencies"),
        pytest.param(
            {"volumes": [{"name": "v", "configMap": {"name": "cfg"}}, {"name": "s", "secret": {"secretName": "tls"}}]},
            [ObjectRef("v1", "ConfigMap", "cfg"), ObjectRef("v1", "Secret", "tls")],
            id="configMap and secret volumes",
        ),
        pytest.param(
            {"volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]},
            [ObjectRef("v1", "PersistentVolumeClaim", "data")],
            id="a claimed volume",
        ),
        pytest.param(
            {
                "volumes": [
                    {"name": "p", "projected": {"sources": [{"configMap": {"name": "a"}}, {"secret": {"name": "b"}}]}}
                ]
            },
            [ObjectRef("v1", "ConfigMap", "a"), ObjectRef("v1", "Secret", "b")],
            id="projected sources",
        ),
        pytest.param(
            {
                "containers": [
                    {
                        "name": "c",
                        "env": [
                            {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "env-cm", "key": "k"}}},
                            {"name": "B", "valueFrom": {"secretKeyRef": {"name": "env-s", "key": "k"}}},
                        ],
                        "envFrom": [{"configMapRef": {"name": "all-cm"}}, {"secretRef": {"name": "all-s"}}],
                    }
                ],
                "initContainers": [{"name": "i", "envFrom": [{"configMapRef": {"name": "init-cm"}}]}],
            },
            [
                ObjectRef("v1", "ConfigMap", "all-cm"),
                ObjectRef("v1", "ConfigMap", "env-cm"),
                ObjectRef("v1", "ConfigMap", "init-cm"),
                ObjectRef("v1", "Secret", "all-s"),
                ObjectRef("v1", "Secret", "env-s"),
            ],
            id="env and envFrom of containers and init containers",
        ),
        pytest.param(
            {"imagePullSecrets": [{"name": "registry"}], "serviceAccountName": "runner"},
            [ObjectRef("v1", "Secret", "registry"), ObjectRef("v1", "ServiceAccount", "runner")],
            id="image pull secrets and the service account",
        ),
        pytest.param(
            {"serviceAccountName": "default", "volumes": [{"name": "ca", "configMap": {"name": "kube-root-ca.crt"}}]},
            [],
            id="what every cluster provides itself is not copied",
        ),
        pytest.param(
            {"volumes": [{"name": "a", "configMap": {"name": "same"}}, {"name": "b", "configMap": {"name": "same"}}]},
            [ObjectRef("v1", "ConfigMap", "same")],
            id="a reference used twice is one dependency",
        ),
    ],
)
def test_dependencies_of_a_pod_template(pod: dict[str, Any], expected: list[ObjectRef]) -> None:
    assert dependencies(deployment(**pod)) == expected


def test_a_cronjob_dependencies_come_from_its_job_template() -> None:
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly", "namespace": "prod"},
        "spec": {
            "schedule": "0 0 * * *",
            "jobTemplate": {"spec": {"template": {"spec": {"volumes": [{"name": "v", "configMap": {"name": "c"}}]}}}},
        },
    }
    assert dependencies(cronjob) == [ObjectRef("v1", "ConfigMap", "c")]


def test_service_account_token_secrets_are_never_copied() -> None:
    token = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token", "metadata": {}}
    assert never_copied(token)
    assert never_copied({"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": {}}) is None


def test_physical_namespaces_are_deterministic_dns_safe_and_distinct_per_tenant_namespace_and_registration() -> None:
    a = Locator("2abc", "prod", "us-west-1")
    names = {
        a.physical_namespace,
        Locator("2abd", "prod", "us-west-1").physical_namespace,
        Locator("2abc", "dev", "us-west-1").physical_namespace,
        Locator("2abc", "prod", "us-west-2").physical_namespace,
    }

    assert len(names) == 4
    assert a.physical_namespace == Locator("2abc", "prod", "us-west-1").physical_namespace
    for name in names:
        assert name.startswith("tmc-")
        assert len(name) <= 63
        assert name == name.lower()


def test_a_namespace_is_owned_only_by_its_exact_locator() -> None:
    locator = Locator("2abc", "prod", "us-west-1")
    mine = locator.namespace_manifest()

    assert locator.owns(mine)
    assert not Locator("2abd", "prod", "us-west-1").owns(mine)
    assert not locator.owns({"metadata": {"name": locator.physical_namespace}})
    assert not locator.owns({"metadata": {"annotations": {"tmc.kcp.io/locator": "not json"}}})
