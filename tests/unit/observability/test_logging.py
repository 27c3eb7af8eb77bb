"""``--log-format``: the reconcile context (workspace, key, controller, cluster) reaches the output; no credentials."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from tests.unit.runtime.fakes import eventually
from tmc.runtime import Controller, ObjectKey, Result, get_logger
from tmc.runtime.logcontext import configure_logging, log_field

KEY = ObjectKey("2x7tenant", "default", "deployment-web")


@pytest.fixture
def root_logging() -> Iterator[None]:
    """``configure_logging`` owns the root logger, as in the real process; put pytest's handlers back after."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


class Reconciler:
    """Logs through the context logger, a plain logger and per-cluster work started with ``gather``."""

    def __init__(self) -> None:
        self.done = asyncio.Event()
        self.log = get_logger("tests.observability.reconciler")
        self.plain = logging.getLogger("tests.observability.plain")

    async def reconcile(self, key: ObjectKey) -> Result:
        self.log.info("looking at %s", key.name)
        self.plain.warning("a plain logger inside the reconcile")
        await asyncio.gather(self.sync_cluster(key, "us-west-1"), self.sync_cluster(key, "eu-central-1"))
        self.done.set()
        return Result()

    @log_field("cluster", "target")
    async def sync_cluster(self, key: ObjectKey, target: str) -> None:
        await asyncio.sleep(0)
        self.log.info("applied")


async def run_one_reconcile(log_format: str) -> list[str]:
    stream = io.StringIO()
    configure_logging("INFO", log_format, stream)
    reconciler = Reconciler()
    controller = Controller("sync", reconciler)
    controller.enqueue(KEY)
    controller.start()
    await eventually(reconciler.done.is_set, what="the reconcile")
    await controller.shutdown(1)
    return [line for line in stream.getvalue().splitlines() if "tests.observability" in line]


async def test_a_json_line_from_a_reconcile_has_workspace_key_controller_and_the_physical_cluster(
    root_logging: None,
) -> None:
    lines = [json.loads(line) for line in await run_one_reconcile("json")]
    first, plain, *per_cluster = lines
    context = {
        "controller": "sync",
        "workspace": "2x7tenant",
        "namespace": "default",
        "name": "deployment-web",
        "key": "2x7tenant|default/deployment-web",
    }
    assert first["message"] == "looking at deployment-web"  # the text prefix is not repeated in JSON
    assert first["level"] == "INFO"
    assert first["logger"] == "tests.observability.reconciler"
    assert {k: first[k] for k in context} == context
    assert len(first["reconcile_id"]) == 8
    assert "cluster" not in first
    assert {k: plain[k] for k in context} == context, "records of plain loggers carry the context too"
    assert plain["reconcile_id"] == first["reconcile_id"]
    assert sorted(line["cluster"] for line in per_cluster) == ["eu-central-1", "us-west-1"]
    assert all({k: line[k] for k in context} == context for line in per_cluster)


async def test_the_text_line_keeps_its_prefix_and_shows_the_cluster(root_logging: None) -> None:
    lines = await run_one_reconcile("text")
    assert " INFO tests.observability.reconciler [sync 2x7tenant|default/deployment-web rid=" in lines[0]
    assert sorted(line.rsplit(" ", 1)[-1] for line in lines[2:]) == ["{cluster=eu-central-1}", "{cluster=us-west-1}"]


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_what_looks_like_a_credential_is_masked_in_messages_and_tracebacks(root_logging: None, log_format: str) -> None:
    stream = io.StringIO()
    configure_logging("INFO", log_format, stream)
    log = logging.getLogger("tests.observability.secrets")
    log.info("request had Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.payload.sig")
    log.info('kubeconfig user {"token": "s3cr3t-t0ken", "client-key-data": "LS0tLS1CRUdJTi"}')
    try:
        raise RuntimeError("password=hunter2 refused")
    except RuntimeError:
        log.exception("failed")
    output = stream.getvalue()
    for secret in ("eyJhbGciOiJSUzI1NiJ9", "s3cr3t-t0ken", "LS0tLS1CRUdJTi", "hunter2"):
        assert secret not in output
    assert output.count("<redacted>") >= 4  # the traceback quotes the raising line too
    if log_format == "json":
        records: list[dict[str, Any]] = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
        assert "RuntimeError: password=<redacted> refused" in records[-1]["exception"]
        assert "workspace" not in records[0]  # outside a reconcile: no context fields at all


def test_an_unknown_format_is_refused_naming_the_flag() -> None:
    with pytest.raises(ValueError, match="--log-format must be one of text, json"):
        configure_logging("INFO", "xml")
