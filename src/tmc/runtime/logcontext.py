"""Logging context for reconciles: controller, logical cluster, key and a reconcile id on every line.

The controller sets a ``contextvars.ContextVar`` around each reconcile; a logger from ``get_logger`` reads
it at log time, so a reconciler (and anything it calls in the same task) logs with that context without
threading a logger through every function. The fields go both into the message prefix (readable with any
formatter) and into ``LogRecord`` attributes (``tmc_controller``, ``tmc_cluster``, ``tmc_key``,
``tmc_reconcile_id``) for structured handlers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from tmc.runtime.keys import ObjectKey


@dataclass(frozen=True, slots=True)
class ReconcileContext:
    controller: str
    key: ObjectKey
    reconcile_id: str


_current: ContextVar[ReconcileContext | None] = ContextVar("tmc_reconcile_context", default=None)


def current_context() -> ReconcileContext | None:
    return _current.get()


@contextmanager
def reconcile_context(context: ReconcileContext) -> Iterator[ReconcileContext]:
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


class ContextLogger(logging.LoggerAdapter[logging.Logger]):
    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        context = _current.get()
        if context is None:
            return msg, kwargs
        extra = dict(kwargs.get("extra") or {})
        extra.update(
            tmc_controller=context.controller,
            tmc_cluster=context.key.cluster,
            tmc_key=str(context.key),
            tmc_reconcile_id=context.reconcile_id,
        )
        kwargs["extra"] = extra
        prefix = f"[{context.controller} {context.key} rid={context.reconcile_id}]"
        return f"{prefix} {msg}", kwargs


def get_logger(name: str) -> ContextLogger:
    return ContextLogger(logging.getLogger(name), {})
