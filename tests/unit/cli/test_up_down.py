"""``tmc up``'s example and state, and ``tmc down``, without servers (stand-in processes where a pid is needed)."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from tests.unit.api.helpers import seed_example
from tmc.cli.main import app
from tmc.errors import ConfigError
from tmc.local import embedded, example
from tmc.local.environment import DEFAULT_CLUSTERS, LocalEnvironment
from tmc.local.nodes import NodeSpec

from .fixtures import binding, copy


def test_the_example_placement_is_the_seeds_example_4_selecting_the_example_deployment() -> None:
    placement = example.example_placement()
    seed = seed_example(4)
    selector = placement["spec"].pop("workloadSelector")
    assert placement["spec"] == seed["spec"]
    assert placement["metadata"]["name"] == seed["metadata"]["name"]
    deployment = example.example_deployment(6)
    assert selector["labelSelector"]["matchLabels"].items() <= deployment["metadata"]["labels"].items()
    assert {"apiVersion": deployment["apiVersion"], "kind": deployment["kind"]} in selector["resources"]
    assert deployment["spec"]["replicas"] == 6
    assert example.BINDING_NAME == "deployment-web"


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        pytest.param(binding("web", {"a": 2, "b": 4}, [copy("a", ready=2), copy("b", ready=4)]), True, id="all ready"),
        pytest.param(binding("web", {"a": 2, "b": 4}, [copy("a", ready=2), copy("b", ready=3)]), False, id="one short"),
        pytest.param(binding("web", {"a": 2}, [copy("a", ready=2, applied=False)]), False, id="not applied"),
        pytest.param(binding("web", {"a": 2, "b": 4}, [copy("a", ready=2)]), False, id="one copy not reported"),
        pytest.param(binding("web", {"a": 2}, [copy("a", ready=2)], generation=2), False, id="old generation"),
        pytest.param(binding("web", {}, []), False, id="no cluster chosen"),
    ],
)
def test_rolled_out_needs_every_chosen_copy_applied_and_ready(obj: dict[str, Any], expected: bool) -> None:
    assert example.rolled_out(obj) is expected


# -- state --------------------------------------------------------------------------------------------------


def test_state_round_trips_clusters_and_every_port(tmp_path: Path) -> None:
    environment = LocalEnvironment(tmp_path, DEFAULT_CLUSTERS)
    state = embedded._state_of(environment, "root:acme", 8080, 6)
    embedded._save_state(tmp_path, state)
    assert (tmp_path / embedded.STATE_FILE).stat().st_mode & 0o777 == 0o600
    loaded = embedded.load_state(tmp_path)
    assert loaded == state
    assert loaded.node_specs() == dict(DEFAULT_CLUSTERS)
    resumed = LocalEnvironment(tmp_path, loaded.node_specs())
    embedded._apply_ports(resumed, loaded)
    assert resumed.kcp.port == environment.kcp.port
    assert resumed.kcp.etcd_peer_port == environment.kcp.etcd_peer_port
    for name, cluster in resumed.clusters.items():
        original = environment.clusters[name]
        assert (cluster.port, cluster.etcd_port, cluster.etcd_peer_port) == (
            original.port,
            original.etcd_port,
            original.etcd_peer_port,
        )


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(None, id="no state file"),
        pytest.param("{not json", id="garbage"),
        pytest.param(json.dumps({"version": 99, "tenant": "root:acme"}), id="another version"),
        pytest.param(json.dumps({"version": 1, "tenant": "root:acme"}), id="incomplete"),
    ],
)
def test_unusable_state_means_a_fresh_start(tmp_path: Path, content: str | None) -> None:
    if content is not None:
        (tmp_path / embedded.STATE_FILE).write_text(content)
    assert embedded.load_state(tmp_path) is None


def saved(tmp_path: Path) -> embedded.SavedState:
    state = embedded._state_of(LocalEnvironment(tmp_path, DEFAULT_CLUSTERS), "root:acme", 8080, 6)
    embedded._save_state(tmp_path, state)
    return state


async def test_resuming_with_other_clusters_or_tenant_is_refused_before_anything_starts(tmp_path: Path) -> None:
    saved(tmp_path)
    quiet = Console(file=io.StringIO())
    other = {"solo": NodeSpec.in_region("us-west")}
    with pytest.raises(ConfigError, match="other --cluster options; `tmc down` first"):
        await embedded.run_embedded(tmp_path, other, "root:acme", quiet)
    with pytest.raises(ConfigError, match="holds tenant root:acme; `tmc down` first to use root:other"):
        await embedded.run_embedded(tmp_path, None, "root:other", quiet)
    assert not (tmp_path / embedded.PID_FILE).exists()


async def test_resuming_when_a_kept_port_is_taken_names_the_port(tmp_path: Path) -> None:
    state = saved(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", state.kcp["port"]))
        busy.listen()
        with pytest.raises(ConfigError, match=rf"port {state.kcp['port']} \(kcp port\) in use"):
            await embedded.run_embedded(tmp_path, None, "root:acme", Console(file=io.StringIO()))


# -- processes ----------------------------------------------------------------------------------------------


@pytest.fixture
def stand_ins() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes started by the test (reaped at the end whatever happened)."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


def stand_in(started: list[subprocess.Popen[bytes]], *args: str, session: bool = False) -> subprocess.Popen[bytes]:
    """A process whose command line holds ``args``; returned once it has exec'd (until then /proc shows the
    forked pytest's command line, and a check of "is this tmc up" would answer for pytest)."""
    code = "import sys, time; print('started', flush=True); time.sleep(60)"
    process = subprocess.Popen([sys.executable, "-c", code, *args], start_new_session=session, stdout=subprocess.PIPE)
    started.append(process)
    assert process.stdout is not None
    assert process.stdout.readline() == b"started\n"
    return process


def test_a_pid_file_of_a_process_that_is_not_tmc_up_is_stale(
    tmp_path: Path, stand_ins: list[subprocess.Popen[bytes]]
) -> None:
    other = stand_in(stand_ins, "something-else")
    (tmp_path / embedded.PID_FILE).write_text(f"{other.pid}\n")
    assert embedded.running_up(tmp_path) is None
    (tmp_path / embedded.PID_FILE).write_text("not a pid")
    assert embedded.running_up(tmp_path) is None


async def test_a_running_tmc_up_is_not_started_twice(tmp_path: Path, stand_ins: list[subprocess.Popen[bytes]]) -> None:
    up = stand_in(stand_ins, "up")
    (tmp_path / embedded.PID_FILE).write_text(f"{up.pid}\n")
    with pytest.raises(ConfigError, match=rf"tmc up already runs \(pid {up.pid}\)"):
        await embedded.run_embedded(tmp_path, None, "root:acme", Console(file=io.StringIO()))


def test_down_stops_tmc_up_and_leftover_servers_of_its_directory_only_then_removes_the_state(
    tmp_path: Path, stand_ins: list[subprocess.Popen[bytes]]
) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    up = stand_in(stand_ins, "up")
    ours = stand_in(stand_ins, f"--data-dir={state_dir}/clusters/a/etcd", session=True)
    foreign = stand_in(stand_ins, "--data-dir=/elsewhere", session=True)
    (state_dir / embedded.PID_FILE).write_text(f"{up.pid}\n")
    (state_dir / embedded.SERVERS_FILE).write_text(json.dumps({"pids": [ours.pid, foreign.pid]}))
    lines = embedded.stop_embedded(state_dir, keep=False, timeout=10)
    assert up.wait(5) == -15
    assert ours.wait(5) == -15
    assert foreign.poll() is None
    assert lines[0].startswith(f"stopped tmc up (pid {up.pid})")
    assert lines[1].startswith("stopped leftover server ")
    assert lines[1].endswith(f"(pid {ours.pid})")
    assert lines[-1] == f"removed {state_dir}"
    assert not state_dir.exists()


def test_down_keep_leaves_the_state_for_tmc_up_to_resume(tmp_path: Path) -> None:
    (tmp_path / embedded.STATE_FILE).write_text("{}")
    result = CliRunner().invoke(app, ["down", "--keep", "--state-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"kept {tmp_path}: `tmc up` resumes it"]
    assert (tmp_path / embedded.STATE_FILE).exists()


def test_down_with_nothing_there_says_so(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["down", "--state-dir", str(tmp_path / "none")])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"no state in {tmp_path / 'none'}"]
