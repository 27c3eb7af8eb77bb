"""The ``tmc`` commands through typer's CliRunner, against an in-memory kcp (``httpx.MockTransport``): no servers.

Checks the kubectl shape (kinds, ``-o``, ``-n``/``-A``, ``--workspace``, ``--watch``), that every error is one
line with a non-zero exit code and no traceback, and that ``tmc register`` refuses what the controller would
refuse before it writes anything.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from tmc.cli import common
from tmc.cli.main import app

from .fixtures import binding, copy, placement, registration

JSON = dict[str, Any]
KCP = "https://kcp.example:6443"
REGISTRATIONS_PATH = "/clusters/root:acme/apis/tmc.kcp.io/v1alpha1/clusterregistrations"


def kubeconfig_file(path: Path, server: str, token: str = "t0ken") -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    path.write_text(yaml.safe_dump(config))
    return path


class FakeKcp:
    """Answers list, get, create, patch and watch from ``objects`` (path -> items); records every request."""

    def __init__(self) -> None:
        self.lists: dict[str, list[JSON]] = {}
        self.watch_events: dict[str, list[list[JSON]]] = {}
        self.requests: list[httpx.Request] = []
        self.created: list[tuple[str, JSON]] = []
        self.patched: list[tuple[str, JSON]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if request.method == "GET" and request.url.params.get("watch") == "true":
            pending = self.watch_events.get(path) or []
            if not pending:
                raise KeyboardInterrupt  # the user presses Ctrl-C once the scripted events are shown
            body = "".join(json.dumps(event) + "\n" for event in pending.pop(0))
            return httpx.Response(200, content=body.encode())
        if request.method == "GET" and path in self.lists:
            items = self.lists[path]
            return httpx.Response(200, json={"kind": "List", "metadata": {"resourceVersion": "10"}, "items": items})
        if request.method == "GET":
            parent, _, name = path.rpartition("/")
            for item in self.lists.get(parent, []):
                if item["metadata"]["name"] == name:
                    return httpx.Response(200, json=item)
            return httpx.Response(404, json={"kind": "Status", "reason": "NotFound", "message": f"{path} not found"})
        body = json.loads(request.content)
        if request.method == "POST":
            self.created.append((path, body))
            self.lists.setdefault(path, []).append(body)
            return httpx.Response(201, json=body)
        if request.method == "PATCH":
            self.patched.append((path, body))
            return httpx.Response(200, json=body)
        raise AssertionError(f"unexpected {request.method} {path}")


@pytest.fixture
def kcp(monkeypatch: pytest.MonkeyPatch) -> FakeKcp:
    fake = FakeKcp()
    monkeypatch.setattr(common, "transport", httpx.MockTransport(fake.handler))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    return fake


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Path:
    return kubeconfig_file(tmp_path / "kcp.kubeconfig", f"{KCP}/clusters/root:acme")


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def one_line_error(result: Any) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    return str(lines[0])


# -- get ---------------------------------------------------------------------------------------------------


def test_get_clusters_lists_the_workspace_named_by_the_kubeconfig(kcp: FakeKcp, kubeconfig: Path) -> None:
    kcp.lists[REGISTRATIONS_PATH] = [registration("us-west-1", nodes=2), registration("eu-central-1", nodes=3)]
    result = invoke("get", "clusters", "--kubeconfig", str(kubeconfig))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "NAME",
        "READY",
        "LOCATION",
        "LABELS",
        "CAPABILITIES",
        "CPU",
        "MEMORY",
        "NODES",
        "VERSION",
    ]
    assert [line.split()[0] for line in lines[1:]] == ["eu-central-1", "us-west-1"]
    assert kcp.requests[0].url.path == REGISTRATIONS_PATH


def test_workspace_flag_wins_over_the_kubeconfig(kcp: FakeKcp, kubeconfig: Path) -> None:
    other = "/clusters/root:other/apis/tmc.kcp.io/v1alpha1/clusterregistrations"
    kcp.lists[other] = [registration("x")]
    result = invoke("get", "cluster", "--kubeconfig", str(kubeconfig), "--workspace", "root:other")
    assert result.exit_code == 0, result.output
    assert kcp.requests[0].url.path == other


@pytest.mark.parametrize("output", ["json", "yaml"])
def test_get_json_and_yaml_print_a_list_of_typed_objects(kcp: FakeKcp, kubeconfig: Path, output: str) -> None:
    kcp.lists[REGISTRATIONS_PATH] = [{k: v for k, v in registration("a").items() if k not in ("apiVersion", "kind")}]
    result = invoke("get", "clusters", "-o", output, "--kubeconfig", str(kubeconfig))
    assert result.exit_code == 0, result.output
    listing = json.loads(result.stdout) if output == "json" else yaml.safe_load(result.stdout)
    assert listing["kind"] == "List"
    [item] = listing["items"]
    assert (item["apiVersion"], item["kind"], item["metadata"]["name"]) == (
        "tmc.kcp.io/v1alpha1",
        "ClusterRegistration",
        "a",
    )


def test_placements_are_read_from_the_namespace_and_from_all_with_a_namespace_column(
    kcp: FakeKcp, kubeconfig: Path
) -> None:
    prod = "/clusters/root:acme/apis/tmc.kcp.io/v1alpha1/namespaces/prod/workloadplacements"
    everywhere = "/clusters/root:acme/apis/tmc.kcp.io/v1alpha1/workloadplacements"
    kcp.lists[prod] = [placement("web", namespace="prod", workloads=1, scheduled=1, selected="a")]
    kcp.lists[everywhere] = [*kcp.lists[prod], placement("api", namespace="dev")]
    result = invoke("get", "placements", "-n", "prod", "--kubeconfig", str(kubeconfig))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1].split() == ["web", "Spread", "1/1", "a", "-"]
    result = invoke("get", "wp", "-A", "--kubeconfig", str(kubeconfig))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].split()[0] == "NAMESPACE"
    assert [line.split()[:2] for line in result.stdout.splitlines()[1:]] == [["dev", "api"], ["prod", "web"]]


def test_workloads_are_the_workload_bindings_with_a_row_per_copy(kcp: FakeKcp, kubeconfig: Path) -> None:
    path = "/clusters/root:acme/apis/tmc.kcp.io/v1alpha1/namespaces/default/workloadbindings"
    kcp.lists[path] = [binding("web", {"a": 2, "b": 1}, [copy("a", ready=2), copy("b", ready=1)])]
    result = invoke("get", "workloads", "--kubeconfig", str(kubeconfig))
    assert result.exit_code == 0, result.output
    body = [line.split() for line in result.stdout.splitlines()[1:]]
    assert body == [
        ["deployment/web", "web-app-placement", "a", "2", "2/2", "Healthy", "True"],
        ["b", "1", "1/1", "Healthy", "True"],
        ["(total)", "3", "3/3", "-"],
    ]


def test_nothing_found_is_said_on_stderr_with_exit_code_0(kcp: FakeKcp, kubeconfig: Path) -> None:
    kcp.lists[REGISTRATIONS_PATH] = []
    result = invoke("get", "clusters", "--kubeconfig", str(kubeconfig))
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "No clusterregistrations found in root:acme." in result.stderr


def test_watch_shows_the_list_then_every_change_until_ctrl_c(kcp: FakeKcp, kubeconfig: Path) -> None:
    kcp.lists[REGISTRATIONS_PATH] = [registration("a")]
    down = registration("a", ready=("False", "HeartbeatMissed"))
    down["metadata"]["resourceVersion"] = "11"
    added = registration("b")
    added["metadata"]["resourceVersion"] = "12"
    kcp.watch_events[REGISTRATIONS_PATH] = [
        [
            {"type": "MODIFIED", "object": down},
            {"type": "ADDED", "object": added},
            {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "13"}}},
        ]
    ]
    result = invoke("get", "clusters", "--watch", "--kubeconfig", str(kubeconfig))
    assert result.exit_code == 130  # Ctrl-C, as kubectl
    assert "Traceback" not in result.output
    tables = [block.splitlines() for block in result.stdout.strip().split("\n\n")]
    assert [[line.split()[:2] for line in table[1:]] for table in tables] == [
        [["a", "True"]],
        [["a", "False"]],
        [["a", "False"], ["b", "True"]],
    ]
    # The watch resumed from the list's resourceVersion, and after the server ended it, from the bookmark's.
    watches = [r.url.params for r in kcp.requests if r.url.params.get("watch") == "true"]
    assert [w["resourceVersion"] for w in watches] == ["10", "13"]


def test_watch_with_json_prints_each_changed_object(kcp: FakeKcp, kubeconfig: Path) -> None:
    kcp.lists[REGISTRATIONS_PATH] = [registration("a")]
    kcp.watch_events[REGISTRATIONS_PATH] = [[{"type": "DELETED", "object": registration("a")}]]
    result = invoke("get", "clusters", "-w", "-o", "json", "--kubeconfig", str(kubeconfig))
    assert result.exit_code == 130
    decoder, text, objects = json.JSONDecoder(), result.stdout.strip(), []
    while text:
        obj, end = decoder.raw_decode(text)
        objects.append(obj["metadata"]["name"])
        text = text[end:].strip()
    assert objects == ["a", "a"]


# -- errors ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        pytest.param(["get"], "Missing argument", id="get without a kind"),
        pytest.param(["get", "pods"], "unknown kind 'pods': use clusters, placements or workloads", id="unknown kind"),
        pytest.param(["get", "clusters", "-o", "xml"], "'xml' is not one of", id="unknown output"),
        pytest.param(
            ["register", "x", "--kubeconfig", "f"], "Missing option '--location'", id="register without location"
        ),
        pytest.param(
            ["register", "x", "--kubeconfig", "f", "--location", "us", "--label", "region"],
            "expected KEY=VALUE",
            id="a label without =",
        ),
        pytest.param(
            ["register", "x", "--kubeconfig", "f", "--location", "us", "--label", "bad key=v"],
            "not a valid label key",
            id="a bad label key",
        ),
        pytest.param(
            ["register", "x", "--kubeconfig", "f", "--location", "US_West"],
            "must be a lowercase DNS label",
            id="a bad location",
        ),
        pytest.param(
            ["register", "x", "--kubeconfig", "f", "--location", "us", "--allow-cluster-cidr", "nonsense"],
            "is not a CIDR",
            id="a bad CIDR",
        ),
    ],
)
def test_usage_errors_are_one_line_with_exit_code_2(kcp: FakeKcp, args: list[str], needle: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    line = one_line_error(result)
    assert needle in line
    assert "--help" in line
    assert kcp.requests == []


def test_an_unreachable_kcp_is_one_line_saying_what_to_check(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    monkeypatch.setattr(common, "transport", httpx.MockTransport(refuse))
    config = kubeconfig_file(tmp_path / "k", f"{KCP}/clusters/root:acme")
    result = invoke("get", "clusters", "--kubeconfig", str(config))
    assert result.exit_code == 1
    assert "cannot reach the server" in one_line_error(result)
    assert "--kubeconfig" in one_line_error(result)


def test_a_kubeconfig_without_a_workspace_asks_for_one(kcp: FakeKcp, tmp_path: Path) -> None:
    config = kubeconfig_file(tmp_path / "k", KCP)
    result = invoke("get", "clusters", "--kubeconfig", str(config))
    assert result.exit_code == 1
    assert "pass --workspace" in one_line_error(result)
    assert kcp.requests == []


def test_an_unbound_workspace_says_to_bind_it(kcp: FakeKcp, kubeconfig: Path) -> None:
    result = invoke("get", "clusters", "--kubeconfig", str(kubeconfig))  # the fake serves nothing there: 404
    assert result.exit_code == 1
    assert "bind it with `tmc bind root:acme`" in one_line_error(result)


def test_no_kubeconfig_at_all_says_where_to_get_one(
    kcp: FakeKcp, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(common, "DEFAULT_STATE_DIR", tmp_path / "nothing")
    result = invoke("get", "clusters")
    assert result.exit_code == 1
    assert "pass --kubeconfig or set KUBECONFIG" in one_line_error(result)


# -- register ----------------------------------------------------------------------------------------------


def cluster_kubeconfig(tmp_path: Path, server: str, user: JSON | None = None) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": user or {"token": "cluster-token"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    path = tmp_path / "cluster.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def register_args(kcp_config: Path, cluster_config: Path, *extra: str) -> list[str]:
    return [
        "register",
        "west",
        "--kubeconfig",
        str(cluster_config),
        "--location",
        "us-west-1",
        "--label",
        "region=us-west",
        "--kcp-kubeconfig",
        str(kcp_config),
        *extra,
    ]


@pytest.mark.parametrize(
    ("server", "user", "needle"),
    [
        pytest.param(
            "https://203.0.113.7:6443",
            {"exec": {"command": "/bin/sh", "apiVersion": "client.authentication.k8s.io/v1"}},
            "ExecPluginNotAllowed",
            id="an exec plugin",
        ),
        pytest.param("http://203.0.113.7:6443", None, "PlainHTTPNotAllowed", id="plain http"),
        pytest.param("https://127.0.0.1:6443", None, "loopback", id="loopback without --allow-cluster-cidr"),
        pytest.param("https://169.254.169.254", None, "link-local", id="the cloud metadata address"),
    ],
)
def test_register_refuses_what_the_controller_would_refuse_and_writes_nothing(
    kcp: FakeKcp, kubeconfig: Path, tmp_path: Path, server: str, user: JSON | None, needle: str
) -> None:
    result = invoke(*register_args(kubeconfig, cluster_kubeconfig(tmp_path, server, user)))
    assert result.exit_code == 1, result.output
    assert needle in one_line_error(result)
    assert kcp.requests == []


def test_register_refuses_kcp_itself_whatever_ranges_are_allowed(kcp: FakeKcp, tmp_path: Path) -> None:
    kcp_config = kubeconfig_file(tmp_path / "kcp", "https://127.0.0.1:6443/clusters/root:acme")
    cluster = cluster_kubeconfig(tmp_path, "https://127.0.0.1:6443")
    result = invoke(*register_args(kcp_config, cluster, "--allow-cluster-cidr", "127.0.0.0/8"))
    assert result.exit_code == 1
    assert "kcp's own" in one_line_error(result)


def test_register_creates_the_secret_and_the_registration_then_changes_nothing(
    kcp: FakeKcp, kubeconfig: Path, tmp_path: Path
) -> None:
    cluster = cluster_kubeconfig(tmp_path, "https://127.0.0.1:7443")
    args = register_args(kubeconfig, cluster, "--allow-cluster-cidr", "127.0.0.0/8", "--capability", "compute")
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "secret default/west-kubeconfig created",
        "clusterregistration west created",
    ]
    (secret_path, secret), (registration_path, created) = kcp.created
    assert secret_path == "/clusters/root:acme/api/v1/namespaces/default/secrets"
    assert base64.b64decode(secret["data"]["kubeconfig"]).decode() == cluster.read_text()
    assert registration_path == REGISTRATIONS_PATH
    assert created["metadata"]["labels"] == {"region": "us-west"}
    assert created["spec"] == {
        "location": "us-west-1",
        "capabilities": [{"type": "compute", "available": True}],
        "kubeconfigSecretRef": {"namespace": "default", "name": "west-kubeconfig", "key": "kubeconfig"},
    }
    again = invoke(*args)
    assert again.exit_code == 0, again.output
    assert again.stdout.splitlines() == [
        "secret default/west-kubeconfig unchanged",
        "clusterregistration west unchanged",
    ]
    assert kcp.patched == []


def test_register_updates_a_changed_location_and_label_with_a_merge_patch(
    kcp: FakeKcp, kubeconfig: Path, tmp_path: Path
) -> None:
    cluster = cluster_kubeconfig(tmp_path, "https://127.0.0.1:7443")
    assert invoke(*register_args(kubeconfig, cluster, "--allow-cluster-cidr", "127.0.0.0/8")).exit_code == 0
    moved = register_args(kubeconfig, cluster, "--allow-cluster-cidr", "127.0.0.0/8", "--label", "tier=gold")
    moved[moved.index("us-west-1")] = "us-west-2"
    result = invoke(*moved)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1] == "clusterregistration west updated"
    [(path, patch)] = kcp.patched
    assert path == f"{REGISTRATIONS_PATH}/west"
    assert patch["metadata"]["labels"] == {"region": "us-west", "tier": "gold"}
    assert patch["spec"]["location"] == "us-west-2"


def test_an_unreadable_cluster_kubeconfig_is_named(kcp: FakeKcp, kubeconfig: Path, tmp_path: Path) -> None:
    result = invoke(*register_args(kubeconfig, tmp_path / "missing"))
    assert result.exit_code == 1
    assert f"cannot read --kubeconfig {tmp_path / 'missing'}" in one_line_error(result)


# -- plugin --------------------------------------------------------------------------------------------------


def test_the_kubectl_plugin_entry_point_is_the_same_command() -> None:
    import tomllib

    scripts = tomllib.loads((Path(__file__).parents[3] / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["kubectl-tmc"] == scripts["tmc"] == "tmc.cli.main:main"


# -- explain -----------------------------------------------------------------------------------------------

PLACEMENTS_PATH = "/clusters/root:acme/apis/tmc.kcp.io/v1alpha1/namespaces/default/workloadplacements"
STATEFULSETS_PATH = "/clusters/root:acme/apis/apps/v1/namespaces/default/statefulsets"


def statefulset_placement() -> JSON:
    selected = placement("db-placement")
    selected["spec"] = {
        "strategy": "Spread",
        "workloadSelector": {"resources": [{"apiVersion": "apps/v1", "kind": "StatefulSet"}]},
    }
    return selected


def test_explain_covers_the_kinds_the_placement_selects(kcp: FakeKcp, kubeconfig: Path) -> None:
    kcp.lists[PLACEMENTS_PATH] = [statefulset_placement()]
    kcp.lists[REGISTRATIONS_PATH] = [registration("us-west-1"), registration("eu-central-1", ready=("False", "Lost"))]
    kcp.lists[STATEFULSETS_PATH] = [
        {"metadata": {"name": "db", "namespace": "default"}, "spec": {"replicas": 2}},
    ]
    kcp.lists["/clusters/root:acme/apis/tmc.kcp.io/v1alpha1/namespaces/default/workloadbindings"] = []
    result = invoke("explain", "db-placement", "--kubeconfig", str(kubeconfig))
    assert result.exit_code == 0, result.output
    cells = [[cell.strip() for cell in line.split("│")[1:-1]] for line in result.stdout.splitlines()]
    verdicts = {(row[0], row[1], row[2]) for row in cells if len(row) >= 3 and row[0]}
    assert verdicts == {("db", "eu-central-1", "no"), ("db", "us-west-1", "yes")}, result.stdout


def test_explain_in_a_workspace_that_does_not_serve_the_selected_kind_says_how_to_bind(
    kcp: FakeKcp, kubeconfig: Path
) -> None:
    kcp.lists[PLACEMENTS_PATH] = [statefulset_placement()]
    kcp.lists[REGISTRATIONS_PATH] = [registration("us-west-1")]
    result = invoke("explain", "db-placement", "--kubeconfig", str(kubeconfig))
    assert result.exit_code == 1
    error = one_line_error(result)
    assert "does not serve statefulsets.apps" in error
    assert "tmc bind root:acme" in error
