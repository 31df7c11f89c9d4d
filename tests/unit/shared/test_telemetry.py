"""Trace propagation, privacy of logs and of HTTP spans."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from shared.telemetry import (
    TelemetryConfig,
    context_from_traceparent,
    current_traceparent,
    extract_traceparent,
    inject_kafka_headers,
    instrument_app,
    setup_logging,
    setup_tracing,
)

CONFIG = TelemetryConfig(service_name="test-service")
REMOTE_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
REMOTE_SPAN_ID = "00f067aa0ba902b7"
REMOTE_TRACEPARENT = f"00-{REMOTE_TRACE_ID}-{REMOTE_SPAN_ID}-01"


@pytest.fixture(scope="module")
def provider() -> TracerProvider:
    return setup_tracing(CONFIG)


@pytest.fixture(scope="module")
def exporter(provider: TracerProvider) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture()
def spans(exporter: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    exporter.clear()
    yield exporter
    exporter.clear()


@pytest.fixture()
def tracer(provider: TracerProvider) -> trace.Tracer:
    return trace.get_tracer("test")


# --- tracing and propagation ----------------------------------------------------------


def test_setup_tracing_installs_one_global_provider(provider: TracerProvider) -> None:
    # "off": an exporter named here would stay attached for the rest of the process.
    again = setup_tracing(TelemetryConfig(service_name="other", exporter="off"))
    assert again is provider
    assert trace.get_tracer_provider() is provider
    # Whichever configuration came first in this process names the service; never "other".
    assert provider.resource.attributes["service.name"] != "other"


def test_traceparent_survives_kafka_headers(tracer: trace.Tracer) -> None:
    headers: list[tuple[str, bytes]] = [("ce_id", b"e-1"), ("traceparent", b"stale")]
    with tracer.start_as_current_span("append") as producer:
        traceparent = current_traceparent()
        inject_kafka_headers(headers, traceparent)
    assert traceparent is not None
    assert headers == [("ce_id", b"e-1"), ("traceparent", traceparent.encode())]

    received = extract_traceparent(headers)
    with tracer.start_as_current_span("apply", context=context_from_traceparent(received)) as child:
        assert current_traceparent() != traceparent
    produced = producer.get_span_context()
    assert child.get_span_context().trace_id == produced.trace_id
    assert isinstance(child, ReadableSpan)
    assert child.parent is not None and child.parent.span_id == produced.span_id


def test_no_span_no_traceparent() -> None:
    assert current_traceparent() is None
    headers: list[tuple[str, bytes]] = [("ce_id", b"e-1")]
    inject_kafka_headers(headers, None)
    assert headers == [("ce_id", b"e-1")]
    assert extract_traceparent(headers) is None
    assert extract_traceparent(None) is None


@pytest.mark.parametrize("traceparent", [None, "", "garbage", "00-zz-yy-01"])
def test_missing_or_bad_traceparent_starts_a_new_trace(
    tracer: trace.Tracer, traceparent: str | None
) -> None:
    with tracer.start_as_current_span("apply", context=context_from_traceparent(traceparent)):
        fresh = current_traceparent()
    assert fresh is not None
    assert fresh.split("-")[1] != "0" * 32


# --- logging --------------------------------------------------------------------------


@pytest.fixture()
def json_logging() -> Iterator[None]:
    """The handler ``setup_logging`` installs, writing to (captured) stderr."""
    handler = setup_logging(CONFIG)
    yield
    logging.getLogger().removeHandler(handler)


def _read(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]


def test_log_lines_are_json_with_trace_ids_and_allowlisted_extras(
    json_logging: None, capsys: pytest.CaptureFixture[str], tracer: trace.Tracer
) -> None:
    log = logging.getLogger("coordination.projection")
    with tracer.start_as_current_span("apply") as span:
        log.info(
            "applied %d events",
            3,
            extra={"event_id": "e-1", "count": 3, "display_name": "Jane Example"},
        )
    [record] = _read(capsys)
    context = span.get_span_context()
    assert record["trace_id"] == format(context.trace_id, "032x")
    assert record["span_id"] == format(context.span_id, "016x")
    assert record["msg"] == "applied 3 events"
    assert record["level"] == "INFO"
    assert record["logger"] == "coordination.projection"
    assert record["service"] == "test-service"
    assert record["event_id"] == "e-1"
    assert record["count"] == 3
    assert "ts" in record
    assert "display_name" not in record
    assert "Jane Example" not in json.dumps(record)


def test_log_line_outside_a_span_has_null_trace_ids(
    json_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    logging.getLogger("x").warning("relay idle")
    [record] = _read(capsys)
    assert record["trace_id"] is None and record["span_id"] is None


def _fail_with_patient_data() -> None:
    raise ValueError("dose for Jane Example, born 1970-01-01, rejected")


def test_exception_message_never_reaches_the_log(
    json_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        _fail_with_patient_data()
    except ValueError:
        logging.getLogger("pharmacy.api").exception("command failed", extra={"error_type": "x"})
    err = capsys.readouterr().err
    assert "Jane Example" not in err
    [record] = [json.loads(line) for line in err.splitlines()]
    assert record["exc_type"] == "ValueError"
    frames = record["exc_frames"]
    assert isinstance(frames, list) and len(frames) == 2
    assert all(frame.startswith("test_telemetry.py:") for frame in frames)


def test_text_format_follows_the_same_rules(capsys: pytest.CaptureFixture[str]) -> None:
    handler = setup_logging(TelemetryConfig(service_name="cli", log_json=False))
    try:
        try:
            _fail_with_patient_data()
        except ValueError:
            logging.getLogger("cli").exception("failed", extra={"display_name": "Jane Example"})
    finally:
        logging.getLogger().removeHandler(handler)
    err = capsys.readouterr().err
    assert "failed" in err and "ValueError" in err
    assert "Jane Example" not in err and "display_name" not in err


def test_setup_logging_replaces_its_own_handler() -> None:
    root = logging.getLogger()
    first = setup_logging(CONFIG)
    second = setup_logging(CONFIG)
    try:
        assert first not in root.handlers
        assert second in root.handlers
    finally:
        root.removeHandler(second)


# --- HTTP server spans ----------------------------------------------------------------


def _app() -> FastAPI:
    app = FastAPI()
    router = APIRouter(prefix="/patients")

    @router.get("/{patient_id}/timeline")
    async def timeline(patient_id: str) -> dict[str, str | None]:
        return {"traceparent": current_traceparent()}

    @router.post("/{patient_id}/fail")
    async def fail(patient_id: str) -> None:
        _fail_with_patient_data()

    app.include_router(router, prefix="/v1")
    instrument_app(app, "test-service")
    return app


def _server_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.kind is SpanKind.SERVER]


def test_server_span_uses_route_template_and_incoming_trace(
    spans: InMemorySpanExporter,
) -> None:
    client = TestClient(_app())
    response = client.get(
        "/v1/patients/p-4711/timeline?name=Jane",
        headers={"traceparent": REMOTE_TRACEPARENT},
    )
    assert response.status_code == 200
    [span] = _server_spans(spans)
    assert span.name == "GET /v1/patients/{patient_id}/timeline"
    assert dict(span.attributes or {}) == {
        "http.request.method": "GET",
        "http.route": "/v1/patients/{patient_id}/timeline",
        "http.response.status_code": 200,
    }
    assert format(span.context.trace_id, "032x") == REMOTE_TRACE_ID
    assert span.parent is not None and format(span.parent.span_id, "016x") == REMOTE_SPAN_ID
    assert response.json()["traceparent"].split("-")[1] == REMOTE_TRACE_ID

    everything = repr([(s.name, dict(s.attributes or {})) for s in spans.get_finished_spans()])
    assert "p-4711" not in everything and "Jane" not in everything


def test_unmatched_path_is_named_by_method_only(spans: InMemorySpanExporter) -> None:
    response = TestClient(_app()).get("/v1/patients/p-4711/unknown")
    assert response.status_code == 404
    [span] = _server_spans(spans)
    assert span.name == "GET"
    assert dict(span.attributes or {}) == {"http.request.method": "GET", "http.response.status_code": 404}


def test_failed_request_marks_span_without_exception_message(
    spans: InMemorySpanExporter,
) -> None:
    client = TestClient(_app(), raise_server_exceptions=False)
    assert client.post("/v1/patients/p-4711/fail").status_code == 500
    [span] = _server_spans(spans)
    assert span.name == "POST /v1/patients/{patient_id}/fail"
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "ValueError"
    assert span.attributes is not None and span.attributes["http.response.status_code"] == 500
    assert not span.events
    assert "Jane" not in repr(span.to_json())
