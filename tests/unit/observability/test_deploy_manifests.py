"""deploy/: every YAML parses, kinds and required fields are there, and the manifests agree with the code.

Agreement checked here: every flag and ``TMC_*`` variable the Deployment passes is a real option of
``tmc controller``; probes, Service and PodDisruptionBudget select and reach what exists; the kubeconfig Secret
is mounted read-only where ``--kubeconfig`` points; the kcp RBAC names the Lease, namespace and export the code
uses. The e2e test ``tests/e2e/test_deploy.py`` then runs the Deployment's command against a real kcp as the
identity the RBAC grants, and dry-runs the rendered manifests on a real kube-apiserver.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from tmc.api import EXPORT_NAME
from tmc.cli.main import app
from tmc.controllers.run import LEASE_NAME, LEASE_NAMESPACE

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
JSON = dict[str, Any]
# Files under deploy/ that are data, not manifests.
DATA = {DEPLOY / "overlays" / "example" / "kcp.kubeconfig"}
REQUIRED_BY_KIND = {
    "Deployment": ("spec.selector", "spec.template.spec.containers"),
    "Service": ("spec.selector", "spec.ports"),
    "PodDisruptionBudget": ("spec.selector",),
    "ClusterRole": ("rules",),
    "Role": ("rules",),
    "ClusterRoleBinding": ("roleRef", "subjects"),
    "RoleBinding": ("roleRef", "subjects"),
    "Kustomization": (),
    "ServiceAccount": (),
    "Namespace": (),
}


def documents() -> dict[Path, list[JSON]]:
    found = {}
    for path in sorted(DEPLOY.rglob("*.yaml")):
        found[path] = [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    return found


def manifests() -> list[JSON]:
    return [doc for docs in documents().values() for doc in docs if doc["kind"] != "Kustomization"]


def one(kind: str, name: str | None = None) -> JSON:
    found = [m for m in manifests() if m["kind"] == kind and (name is None or m["metadata"]["name"] == name)]
    assert len(found) == 1, f"{kind} {name or ''}: {len(found)} found"
    return found[0]


def dig(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = obj[part]
    return obj


def container() -> JSON:
    containers: list[JSON] = one("Deployment", "tmc-controller")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def controller_command() -> Any:
    """``tmc controller`` as the command-line parser sees it (its options, flags and variables)."""
    return getattr(typer.main.get_command(app), "commands")["controller"]  # noqa: B009 (a group's commands)


def test_every_yaml_under_deploy_parses_into_known_kinds_with_their_required_fields() -> None:
    found = documents()
    assert len(found) >= 10
    for path, docs in found.items():
        assert docs, f"{path} is empty"
        for doc in docs:
            where = f"{path.relative_to(ROOT)}: {doc.get('kind')}"
            assert doc.get("apiVersion"), where
            assert doc.get("kind") in REQUIRED_BY_KIND, where
            if doc["kind"] != "Kustomization":
                assert doc["metadata"]["name"], where
            for field in REQUIRED_BY_KIND[doc["kind"]]:
                assert dig(doc, field), f"{where} lacks {field}"


@pytest.mark.parametrize("directory", ["base", "overlays/example", "kcp-rbac"])
def test_a_kustomization_lists_exactly_the_manifests_of_its_folder(directory: str) -> None:
    folder = DEPLOY / directory
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    local = {r for r in kustomization["resources"] if not r.startswith("..")}
    on_disk = {p.name for p in folder.glob("*.yaml") if p.name != "kustomization.yaml"}
    assert local == on_disk
    for generator in kustomization.get("secretGenerator", []):
        for entry in generator["files"]:
            assert (folder / entry.split("=", 1)[-1]).exists()


def test_the_deployment_runs_two_leader_elected_replicas_named_after_their_pods() -> None:
    deployment = one("Deployment", "tmc-controller")
    assert deployment["spec"]["replicas"] == 2
    main = container()
    assert main["command"] == ["tmc"]
    assert main["args"][0] == "controller"
    assert not any(arg.startswith("--no-leader-election") for arg in main["args"])
    env = {e["name"]: e for e in main["env"]}
    assert env["TMC_IDENTITY"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert "--health-host=0.0.0.0" in main["args"], "probes and Prometheus reach the pod's address"


def test_every_flag_and_variable_the_deployment_passes_is_an_option_of_tmc_controller() -> None:
    command = controller_command()
    flags = {opt for param in command.params for opt in [*param.opts, *param.secondary_opts]}
    envvars = {param.envvar for param in command.params if isinstance(getattr(param, "envvar", None), str)}
    args = container()["args"][1:]
    assert args
    for arg in args:
        assert arg.split("=", 1)[0] in flags, arg
    for variable in (e["name"] for e in container()["env"]):
        assert variable in envvars or not variable.startswith("TMC_"), variable
    assert "--log-format=json" in args


def test_probes_service_and_budget_reach_the_health_server() -> None:
    main = container()
    env = {e["name"]: e.get("value") for e in main["env"]}
    ports = {p["name"]: p["containerPort"] for p in main["ports"]}
    assert ports == {"http-metrics": int(env["TMC_HEALTH_PORT"])}
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http-metrics"}
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http-metrics"}
    pod_labels = one("Deployment")["spec"]["template"]["metadata"]["labels"]
    service = one("Service", "tmc-metrics")
    assert service["spec"]["ports"][0]["targetPort"] == "http-metrics"
    for selector in (
        service["spec"]["selector"],
        one("PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
        one("Deployment")["spec"]["selector"]["matchLabels"],
    ):
        assert selector.items() <= pod_labels.items()
    for kind in ("requests", "limits"):
        assert set(main["resources"][kind]) == {"cpu", "memory"}


def test_the_pod_runs_as_non_root_on_a_read_only_root_filesystem() -> None:
    pod = one("Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["automountServiceAccountToken"] is False
    security = container()["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]


def test_the_kcp_kubeconfig_secret_is_mounted_read_only_where_the_flag_points() -> None:
    main = container()
    pod = one("Deployment")["spec"]["template"]["spec"]
    flag = next(arg.split("=", 1)[1] for arg in main["args"] if arg.startswith("--kubeconfig="))
    mount = next(m for m in main["volumeMounts"] if flag.startswith(m["mountPath"] + "/"))
    assert mount["readOnly"] is True
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert volume["secret"]["items"] == [{"key": "kubeconfig", "path": flag.rsplit("/", 1)[1]}]
    overlay = yaml.safe_load((DEPLOY / "overlays" / "example" / "kustomization.yaml").read_text())
    assert [g["name"] for g in overlay["secretGenerator"]] == [volume["secret"]["secretName"]]
    assert [f.split("=")[0] for f in overlay["secretGenerator"][0]["files"]] == ["kubeconfig"]


def test_the_example_overlay_leaves_command_arguments_and_environment_as_the_base_has_them() -> None:
    # The e2e test runs the base container's command; an overlay changing it would make that proof moot.
    overlay = (DEPLOY / "overlays" / "example" / "kustomization.yaml").read_text()
    assert not re.search(r"/(command|args|env)\b", overlay)


def test_the_dockerfile_builds_from_python_slim_and_runs_tmc_as_the_pods_user() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", text, re.M)
    assert re.search(r"pip install .*\.", text)
    user = re.search(r"^USER (\d+):(\d+)", text, re.M)
    assert user is not None
    assert int(user.group(1)) == one("Deployment")["spec"]["template"]["spec"]["securityContext"]["runAsUser"]
    assert 'ENTRYPOINT ["tmc"]' in text


def rules(kind: str) -> list[JSON]:
    found: list[JSON] = one(kind, "tmc:controller")["rules"]
    return found


def test_the_kcp_rbac_grants_workspace_access_the_exports_content_and_the_lease_the_code_uses() -> None:
    cluster_rules = rules("ClusterRole")
    assert {"nonResourceURLs": ["/"], "verbs": ["access"]} in cluster_rules
    content = [r for r in cluster_rules if "apiexports/content" in r.get("resources", [])]
    assert [r["resourceNames"] for r in content] == [[EXPORT_NAME]]
    role = one("Role", "tmc:controller")
    assert role["metadata"]["namespace"] == LEASE_NAMESPACE
    lease_names = [r.get("resourceNames") for r in rules("Role") if "leases" in r["resources"]]
    assert [LEASE_NAME] in lease_names
    for binding_kind, role_kind in (("ClusterRoleBinding", "ClusterRole"), ("RoleBinding", "Role")):
        binding = one(binding_kind, "tmc:controller")
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": role_kind,
            "name": "tmc:controller",
        }
    # Nothing broader than needed: no wildcard anywhere.
    for rule in cluster_rules + rules("Role"):
        for field in ("apiGroups", "resources", "verbs", "resourceNames"):
            assert "*" not in rule.get(field, []), rule
