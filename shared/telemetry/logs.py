"""Structured logs that cannot leak clinical data by accident.

Two rules make that hold without relying on every call site's discipline:

* ``extra`` keys pass only if they are in :data:`LOG_EXTRA_ALLOWLIST`: identifiers and
  measurements, never payload fields. ``extra={"display_name": ...}`` is dropped.
* An exception is logged as its type and the ``file:line`` of its traceback frames, not
  its message: messages are built from data (a pydantic error echoes the rejected input,
  a driver error echoes the SQL parameters), and the type plus location is enough to
  find the bug.

Every line carries the active span's ``trace_id``/``span_id`` so logs and traces join.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from opentelemetry import trace

from shared.telemetry.config import TelemetryConfig

LOG_EXTRA_ALLOWLIST: frozenset[str] = frozenset(
    {
        "event_id",
        "event_type",
        "stream_id",
        "topic",
        "partition",
        "offset",
        "count",
        "error_type",
        "duration_ms",
        "status_code",
        "method",
        "route",
        "clinic_id",
    }
)


def _trace_ids() -> tuple[str | None, str | None]:
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None, None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def _short_path(filename: str) -> str:
    """Drop the interpreter's search-path prefix: ``shared/x.py``, not the install path."""
    best = ""
    for entry in sys.path:
        prefix = entry.rstrip("/\\") + "/"
        if entry and filename.startswith(prefix) and len(prefix) > len(best):
            best = prefix
    return filename[len(best) :]


def exception_summary(
    exc_info: tuple[type[BaseException], BaseException, TracebackType | None],
) -> dict[str, Any]:
    """Type and frame locations of an exception, deliberately without its message."""
    exc_type, _, tb = exc_info
    frames = [f"{_short_path(frame.filename)}:{frame.lineno}" for frame in traceback.extract_tb(tb)]
    name = exc_type.__qualname__
    if exc_type.__module__ not in ("builtins", "__main__"):
        name = f"{exc_type.__module__}.{name}"
    return {"exc_type": name, "exc_frames": frames}


def _record_fields(record: logging.LogRecord, service: str) -> dict[str, Any]:
    trace_id, span_id = _trace_ids()
    fields: dict[str, Any] = {
        "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname,
        "logger": record.name,
        "msg": record.getMessage(),
        "service": service,
        "trace_id": trace_id,
        "span_id": span_id,
    }
    for key in sorted(LOG_EXTRA_ALLOWLIST):
        if key in record.__dict__:
            fields[key] = record.__dict__[key]
    if record.exc_info and record.exc_info[0] is not None:
        fields.update(exception_summary(record.exc_info))  # type: ignore[arg-type]
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per line. Never calls the base ``format``, which would render
    (and cache on the record) the full traceback including the exception message."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_record_fields(record, self.service), default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Human-readable lines for a terminal, under the same allowlist and exception rules."""

    _BASE = frozenset({"ts", "level", "logger", "msg", "service", "trace_id", "span_id"})

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        fields = _record_fields(record, self.service)
        line = f"{fields['ts']} {fields['level']:<8} {fields['logger']}: {fields['msg']}"
        extras = [
            f"{key}={value}"
            for key, value in fields.items()
            if key not in self._BASE and key != "exc_frames"
        ]
        if fields["trace_id"]:
            extras.append(f"trace_id={fields['trace_id']}")
        if extras:
            line += " [" + " ".join(extras) + "]"
        for frame in fields.get("exc_frames", []):
            line += f"\n    at {frame}"
        return line


class _CarecoordHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at emit time, not at setup time, so a
    later redirection (a test runner's capture, ``redirect_stderr``) is honoured instead
    of writing to a stream that has since been closed. Its type also marks the handler
    this module installed, so setup can replace it idempotently."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def setup_logging(config: TelemetryConfig) -> logging.Handler:
    """Install the formatter on the root logger and set its level.

    Calling it again replaces the handler it installed earlier. Handlers that others put
    on the root logger (a test runner's capture, for instance) are left in place.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _CarecoordHandler):
            root.removeHandler(handler)
            handler.close()
    handler = _CarecoordHandler()
    formatter_class = JsonFormatter if config.log_json else TextFormatter
    formatter: logging.Formatter = formatter_class(config.service_name)
    handler.setFormatter(formatter)
    root.addHandler(handler)
    root.setLevel(config.log_level.upper())
    return handler
