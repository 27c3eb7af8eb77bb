"""Logging context for reconciles: controller, logical cluster, key, reconcile id (and the physical cluster).

The controller sets a ``contextvars.ContextVar`` around each reconcile; a logger from ``get_logger`` reads
it at log time, so a reconciler (and anything it calls in the same task) logs with that context without
threading a logger through every function. The fields go both into the message prefix (readable with any
formatter) and into ``LogRecord`` attributes (``tmc_controller``, ``tmc_cluster``, ``tmc_key``,
``tmc_reconcile_id``) for structured handlers.

Output (``configure_logging``, used by ``tmc controller --log-format``):

- ``ContextFilter`` on the handler copies the context onto *every* record emitted inside a reconcile, also
  those of plain ``logging.getLogger`` loggers (the status writer's, the client's), and adds the fields bound
  with ``log_fields`` / ``@log_field`` (the sync engine binds ``cluster``, the registration it works on). Child
  tasks (``asyncio.gather``) inherit the context, so per-cluster work of one reconcile keeps it too.
- ``JsonFormatter``: one JSON object per line with ``time``, ``level``, ``logger``, ``message`` (without the
  text prefix) and, inside a reconcile, ``controller``, ``workspace`` (the object's logical cluster),
  ``namespace``, ``name``, ``key``, ``reconcile_id`` and the bound fields (``cluster``); ``exception`` holds a
  traceback. ``TextFormatter``: the classic line, with bound fields appended as ``{cluster=...}``.

Credentials: TMC never puts one into a message (kubeconfigs are parsed, never logged; client errors name URLs,
not headers). As a second line of defence both formatters mask what looks like one (``Bearer <token>``,
``token=...``, ``password: ...``, kubeconfig ``*-data`` fields) in messages and tracebacks.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import re
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any, ParamSpec, TypeVar

from tmc.runtime.keys import ObjectKey

P = ParamSpec("P")
T = TypeVar("T")

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


@dataclass(frozen=True, slots=True)
class ReconcileContext:
    controller: str
    key: ObjectKey
    reconcile_id: str


_current: ContextVar[ReconcileContext | None] = ContextVar("tmc_reconcile_context", default=None)
_fields: ContextVar[Mapping[str, str] | None] = ContextVar("tmc_log_fields", default=None)


def current_context() -> ReconcileContext | None:
    return _current.get()


@contextmanager
def reconcile_context(context: ReconcileContext) -> Iterator[ReconcileContext]:
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


@contextmanager
def log_fields(**fields: str) -> Iterator[None]:
    """Add ``fields`` to every record logged inside the block (in this task and tasks it starts)."""
    token = _fields.set({**(_fields.get() or {}), **fields})
    try:
        yield
    finally:
        _fields.reset(token)


def log_field(field: str, argument: str) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Coroutine[Any, Any, T]]]:
    """Decorate an async function so its records carry ``field`` = the value of its parameter ``argument``."""

    def decorate(function: Callable[P, Awaitable[T]]) -> Callable[P, Coroutine[Any, Any, T]]:
        signature = inspect.signature(function)
        if argument not in signature.parameters:
            raise TypeError(f"{function.__qualname__} has no parameter {argument!r}")

        @functools.wraps(function)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            value = signature.bind_partial(*args, **kwargs).arguments.get(argument)
            with log_fields(**{field: str(value)}):
                return await function(*args, **kwargs)

        return wrapper

    return decorate


class ContextLogger(logging.LoggerAdapter[logging.Logger]):
    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        context = _current.get()
        if context is None:
            return msg, kwargs
        extra = dict(kwargs.get("extra") or {})
        prefix = f"[{context.controller} {context.key} rid={context.reconcile_id}]"
        extra.update(
            tmc_controller=context.controller,
            tmc_cluster=context.key.cluster,
            tmc_key=str(context.key),
            tmc_reconcile_id=context.reconcile_id,
            tmc_prefix=prefix,
        )
        kwargs["extra"] = extra
        return f"{prefix} {msg}", kwargs


def get_logger(name: str) -> ContextLogger:
    return ContextLogger(logging.getLogger(name), {})


# -- output ------------------------------------------------------------------------------------------------


class ContextFilter(logging.Filter):
    """Puts the reconcile context and the bound fields on every record (never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = _current.get()
        if context is not None and not hasattr(record, "tmc_context"):
            setattr(record, "tmc_context", context)  # noqa: B010 (LogRecord attributes are dynamic)
        fields = _fields.get()
        if fields and not hasattr(record, "tmc_fields"):
            setattr(record, "tmc_fields", dict(fields))  # noqa: B010
        return True


_SECRET_PATTERNS = (
    re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(
        r"(?i)(\b(?:token|password|passwd|client-key-data|id-token|refresh-token)"
        r"\"?\s*[:=]\s*\"?)[^\s\",}]+"
    ),
)


def redact(text: str) -> str:
    """``text`` with anything that looks like a credential replaced by ``<redacted>``."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(r"\1<redacted>", text)
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        prefix = getattr(record, "tmc_prefix", None)
        if prefix and message.startswith(prefix):
            message = message[len(prefix) :].lstrip()
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(message),
        }
        context: ReconcileContext | None = getattr(record, "tmc_context", None)
        if context is not None:
            out.update(
                controller=context.controller,
                workspace=context.key.cluster,
                namespace=context.key.namespace,
                name=context.key.name,
                key=str(context.key),
                reconcile_id=context.reconcile_id,
            )
        out.update(getattr(record, "tmc_fields", None) or {})
        if record.exc_info:
            out["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            out["exception"] = redact(record.exc_text)
        return json.dumps(out, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = redact(super().format(record))
        fields = getattr(record, "tmc_fields", None)
        if fields:
            first, sep, rest = line.partition("\n")
            bound = " ".join(f"{name}={value}" for name, value in sorted(fields.items()))
            line = f"{first} {{{bound}}}{sep}{rest}"
        return line


def configure_logging(level: str = "INFO", log_format: str = "text", stream: IO[str] | None = None) -> logging.Handler:
    """Route every log record (root logger) to ``stream`` (stderr) in ``log_format``; returns the handler."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"--log-format must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}")
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # httpx logs every request at INFO: one line per API call drowns the controller's own records (and costs a
    # formatted record per request under load). Writes are journalled by --write-log; requests show at DEBUG.
    logging.getLogger("httpx").setLevel(logging.DEBUG if root.level <= logging.DEBUG else logging.WARNING)
    return handler
