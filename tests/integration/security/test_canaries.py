"""Canaries: a cohort is loaded through the four services' HTTP APIs with a unique random
marker in every piece of free text the APIs accept — display names, external references,
life-event notes, prescription texts, therapist and attendee names, acknowledgement notes,
every string field of every command's schema that is not a code (so a new free-text field is
planted the day it is added) — and in every X-Correlation-Id and Idempotency-Key. Then requests
meant to fail carry markers too: every string field of every command (codes and dates
included), ids in paths, query values, a bearer token. Afterwards no marker may be found in

* any record of any Kafka topic of the test's namespace (keys, values, headers),
* any log line the services wrote (their JSON lines, from the root logger),
* any exported trace span (names, attributes, events, links, status),
* any error response body,

and a marker planted in identity (display name, external reference) only in assessment's
identity table, in no other table of any service.

Known exceptions, each an explicit allow-list in :mod:`canary_support`:

* Issue 14 item 8 is done (``ITEM_8_FIELDS`` is empty): pharmacy's reasons, override, effect
  and indication are codes and the drug's name the formulary's; nothing of pharmacy's is excused.
* Staff identifiers (``STAFF_ID_FIELDS``: an episode's ``therapist_id``, a case conference's
  ``attendees``) travel on events by design, like every command's actor; the same rule holds
  for them. They take any string, so identity typed there reaches Kafka: an open point.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import asyncpg
import httpx
import pytest
from canary_support import (
    Canaries,
    LogLines,
    allowed_on_kafka,
    coded,
    every_record,
    free_text_fields,
    positions,
    present,
    put,
)
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from security_support import ALL_ROLES, Service, bearer, example, four_services, routes

from shared.db import plain_dsn
from shared.telemetry import TelemetryConfig, detach_exporter, flush_tracing, setup_tracing
from tests.integration.ops.otlp_receiver import otlp_receiver
from tests.support.services import wait_until

CLINIC = "clinic-a"
STAFF = bearer(*ALL_ROLES, clinics=(CLINIC,), sub="canary-staff")
PATIENTS = 2
IDENTITY_FIELDS = ("display_name", "external_ref")
SERTRALINE = {"code": "36437", "system": "RxNorm", "name": "sertraline"}
# Valid values for what a valid request must get right; free text is planted over them.
BASES: dict[tuple[str, str], dict[str, Any]] = {
    ("assessment", "/v1/patients"): {"clinic_id": CLINIC, "birth_date": "1980-01-01",
                                     "preferences": {"language": "en", "prefers_non_pharmacological_first": False}},
    ("assessment", "/v1/patients/{patient_id}/preferences"): {"language": "de"},
    ("assessment", "/v1/patients/{patient_id}/assessments"): {
        "instrument": "PHQ-9", "item_scores": [2, 2, 2, 2, 2, 2, 2, 2, 2], "administered_at": "2026-11-03T09:00:00Z"},
    ("assessment", "/v1/patients/{patient_id}/life-events"): {"occurred_at": "2026-11-02T09:00:00Z"},
    ("pharmacy", "/v1/patients/{patient_id}/medications"): {
        "drug": SERTRALINE, "dose": 50, "unit": "mg", "schedule": {"times_per_day": 1},
        "started_at": "2026-11-01T08:00:00Z"},
    ("pharmacy", "/v1/patients/{patient_id}/medications/{medication_id}/dose-adjustments"): {
        "dose": 100, "unit": "mg", "reason": "titration", "effective_at": "2026-11-08T08:00:00Z"},
    ("pharmacy", "/v1/patients/{patient_id}/medications/{medication_id}/adverse-effects"): {
        "effect": "nausea", "severity": "mild", "observed_at": "2026-11-09T08:00:00Z"},
    ("pharmacy", "/v1/patients/{patient_id}/medications/{medication_id}/discontinuation"): {
        "reason": "remission", "effective_at": "2026-11-20T08:00:00Z"},
    ("therapy", "/v1/patients/{patient_id}/episodes"): {"modality": "cbt", "care_step": 2,
                                                        "started_at": "2026-11-02T09:00:00Z"},
    ("therapy", "/v1/patients/{patient_id}/episodes/{episode_id}/sessions"): {"scheduled_at": "2026-11-09T09:00:00Z"},
    ("therapy", "/v1/patients/{patient_id}/episodes/{episode_id}/sessions/{session_id}/completion"): {
        "completed_at": "2026-11-09T10:00:00Z", "duration_min": 50},
    ("coordination", "/v1/patients/{patient_id}/escalations"): {"decided_at": "2026-11-12T09:00:00Z"},
    ("coordination", "/v1/patients/{patient_id}/care-plan-reviews"): {"reviewed_at": "2026-11-12T10:00:00Z"},
    ("coordination", "/v1/patients/{patient_id}/case-conferences"): {"held_at": "2026-11-12T11:00:00Z"},
    ("coordination", "/v1/flags/{flag_id}/acknowledgement"): {},
}


class Load:
    """Sends the cohort's requests with markers in their free text and headers; keeps every
    error body."""

    def __init__(self, services: dict[str, Service], canaries: Canaries) -> None:
        self.services = services
        self.canaries = canaries
        self.schemas = {(r.service, r.path): r.body_schema for r in routes(services) if r.body_schema}
        self.errors: list[tuple[str, httpx.Response]] = []

    def headers(self, where: str, command: bool) -> dict[str, str]:
        headers = {**STAFF, "X-Correlation-Id": self.canaries.new(f"{where} X-Correlation-Id")}
        if command:
            headers["Idempotency-Key"] = self.canaries.new(f"{where} Idempotency-Key")
        return headers

    def body(self, service: str, path: str, where: str) -> dict[str, Any]:
        """A valid body with a marker in every free-text field."""
        schema = self.schemas[(service, path)]
        body = copy.deepcopy(BASES[(service, path)])
        for name in schema.get("required", []):  # what the base leaves out: the schema's first choice
            body.setdefault(name, example(schema["properties"][name]))
        for name, prop in free_text_fields(schema):
            if coded(name) or not present(body, name):
                continue
            marker = self.canaries.new(f"{where} {name}")
            put(body, name, [marker] if prop.get("type") == "array" else marker)
        return body

    async def command(self, service: str, method: str, path: str, ids: dict[str, str]) -> dict[str, Any]:
        where = f"{service} {method} {path}"
        response = await self.services[service].http.request(
            method, path.format(**ids), json=self.body(service, path, where), headers=self.headers(where, True))
        assert response.is_success, f"{where}: {response.status_code} {response.text}"
        return response.json() if response.content else {}

    async def probe(self, service: str, method: str, url: str, *, refused: bool = True, **kwargs: Any) -> None:
        """A request meant to fail (or a filter matching nothing: ``refused=False``); its
        answer is scanned whatever it is."""
        where = f"{service} {method} {url}"
        headers = {**self.headers(where, method != "GET"), **kwargs.pop("headers", {})}
        response = await self.services[service].http.request(method, url, headers=headers, **kwargs)
        assert response.status_code >= 400 or not refused, f"{where} was accepted: {response.text}"
        self.errors.append((where, response))

    async def every_string_wrong(self, service: str, path: str, ids: dict[str, str]) -> None:
        """The command with a marker in every string field, codes and dates too: refused."""
        where = f"{service} POST {path} (all strings)"
        schema = self.schemas[(service, path)]
        body = self.body(service, path, where)
        _plant_everywhere(body, schema, self.canaries, where)
        method = "PUT" if path.endswith("/preferences") else "POST"
        await self.probe(service, method, path.format(**ids), json=body)


def _plant_everywhere(body: dict[str, Any], schema: dict[str, Any], canaries: Canaries, where: str) -> None:
    for name, prop in schema.get("properties", {}).items():
        options = [o for o in prop.get("anyOf", [prop]) if o.get("type") != "null"]
        kinds = {o.get("type") for o in options}
        if "object" in kinds and isinstance(body.get(name), dict):
            _plant_everywhere(body[name], next(o for o in options if o.get("type") == "object"), canaries, where)
        elif "string" in kinds:
            body[name] = canaries.new(f"{where} {name}")
        elif "array" in kinds and any(o.get("items", {}).get("type") == "string" for o in options):
            body[name] = [canaries.new(f"{where} {name}[]")]


@pytest.fixture
async def captured(pg_url: str, kafka_bootstrap: str, schema: str, namespace: str):  # type: ignore[no-untyped-def]
    """The four services exporting traces (as deployed: OTLP, here to a local receiver),
    every finished span kept in memory, every log line captured."""
    exporter = InMemorySpanExporter()
    setup_tracing(TelemetryConfig(service_name="canaries")).add_span_processor(SimpleSpanProcessor(exporter))
    lines = LogLines()
    root = logging.getLogger()
    root.addHandler(lines)
    try:
        with otlp_receiver() as (endpoint, _):
            try:
                async with four_services(pg_url, kafka_bootstrap, schema, namespace, rate_limit_per_second=0,
                                         telemetry_exporter="otlp", otlp_endpoint=endpoint) as services:
                    yield services, exporter, lines
                    flush_tracing()
            finally:
                detach_exporter(TelemetryConfig(service_name="canaries", exporter="otlp", otlp_endpoint=endpoint))
    finally:
        root.removeHandler(lines)
        exporter.shutdown()  # the provider is the process's: it keeps the processor, we stop storing


async def _load_patient(load: Load, n: int) -> str:
    enrolled = await load.command("assessment", "POST", "/v1/patients", {})
    patient = str(enrolled["patient_id"])
    ids = {"patient_id": patient}
    for service in ("pharmacy", "therapy", "coordination"):
        pool = load.services[service].app.state.runtime.pool
        await wait_until(lambda pool=pool: pool.fetchval(
            "SELECT count(*) = 1 FROM patient_directory WHERE patient_id = $1", patient), timeout=30)
    await load.command("assessment", "PUT", "/v1/patients/{patient_id}/preferences", ids)
    await load.command("assessment", "POST", "/v1/patients/{patient_id}/assessments", ids)
    await load.command("assessment", "POST", "/v1/patients/{patient_id}/life-events", ids)
    course = await load.command("pharmacy", "POST", "/v1/patients/{patient_id}/medications", ids)
    ids["medication_id"] = str(course["medication_id"])
    for step in ("dose-adjustments", "adverse-effects", "discontinuation"):
        await load.command("pharmacy", "POST", f"/v1/patients/{{patient_id}}/medications/{{medication_id}}/{step}", ids)
    episode = await load.command("therapy", "POST", "/v1/patients/{patient_id}/episodes", ids)
    ids["episode_id"] = str(episode["episode_id"])
    session = await load.command("therapy", "POST", "/v1/patients/{patient_id}/episodes/{episode_id}/sessions", ids)
    ids["session_id"] = str(session["session_id"])
    await load.command("therapy", "POST",
                       "/v1/patients/{patient_id}/episodes/{episode_id}/sessions/{session_id}/completion", ids)
    for decision in ("escalations", "care-plan-reviews", "case-conferences"):
        await load.command("coordination", "POST", f"/v1/patients/{{patient_id}}/{decision}", ids)

    async def flag() -> str | None:
        resp = await load.services["coordination"].http.get(f"/v1/patients/{patient}/flags", headers=STAFF)
        flags = resp.json() if resp.status_code == 200 else []
        return str(flags[0]["flag_id"]) if flags else None

    ids["flag_id"] = await wait_until(flag, timeout=30, interval=0.2)  # the PHQ-9 of 18 raises one
    await load.command("coordination", "POST", "/v1/flags/{flag_id}/acknowledgement", ids)
    return patient


async def _refusals(load: Load, patient: str) -> None:
    ids = {"patient_id": patient, "medication_id": "m", "episode_id": "e", "session_id": "s", "flag_id": "f"}
    for (service, path) in BASES:
        await load.every_string_wrong(service, path, ids)
    mark = load.canaries.new
    for service, path in (("assessment", "/v1/patients/{}"), ("pharmacy", "/v1/patients/{}/medications"),
                          ("therapy", "/v1/patients/{}/episodes"), ("coordination", "/v1/patients/{}/timeline"),
                          ("coordination", "/v1/flags/{}")):
        await load.probe(service, "GET", path.format(mark(f"{service} GET {path} path id")))
    await load.probe("pharmacy", "GET", f"/v1/patients/{patient}/medications/{mark('pharmacy medication id')}")
    await load.probe("assessment", "GET", f"/v1/patients/{patient}/assessments",
                       params={"instrument": mark("assessment instrument query")}, refused=False)
    await load.probe("coordination", "GET", f"/v1/patients/{patient}/timeline",
                       params={"from": mark("coordination timeline from query")})
    await load.probe("coordination", "GET", "/v1/flags", params={"clinic": mark("coordination flags clinic query")},
                     refused=False)
    await load.probe("assessment", "POST", "/v1/patients", content=f'{{"display_name": "{mark("unparsable body")}"',
                       headers={"Content-Type": "application/json"})
    await load.probe("assessment", "GET", f"/v1/patients/{patient}",
                       headers={"Authorization": f"Bearer {mark('bearer token')}"})


async def _published(services: dict[str, Service]) -> bool:
    counts = [await s.app.state.runtime.pool.fetchval(
        "SELECT count(*) FROM outbox WHERE sent_at IS NULL AND parked_at IS NULL") for s in services.values()]
    return not any(counts)


async def _identity_outside_its_table(pg_url: str, schema: str, canaries: Canaries) -> list[str]:
    markers = {m: w for m, w in canaries.planted.items() if w.rsplit(" ", 1)[-1] in IDENTITY_FIELDS}
    conn = await asyncpg.connect(plain_dsn(pg_url))
    found = []
    try:
        tables = await conn.fetch("SELECT table_schema, table_name FROM information_schema.tables "
                                  "WHERE table_schema LIKE $1 AND table_type = 'BASE TABLE'", f"{schema}_%")
        for row in tables:
            if (row["table_schema"], row["table_name"]) == (f"{schema}_assessment", "patient_identity"):
                continue
            rows = await conn.fetch(f'SELECT t::text AS row FROM "{row["table_schema"]}"."{row["table_name"]}" t')
            text = "\n".join(r["row"] for r in rows).lower()
            found += [f"{markers[m]} in table {row['table_schema']}.{row['table_name']}" for m in markers if m in text]
    finally:
        await conn.close()
    return found


async def test_no_canary_leaves_its_place(captured: Any, kafka_bootstrap: str, namespace: str, pg_url: str,
                                          schema: str) -> None:
    services, exporter, lines = captured
    canaries = Canaries()
    load = Load(services, canaries)
    patients = [await _load_patient(load, n) for n in range(PATIENTS)]
    await _refusals(load, patients[0])
    await wait_until(lambda: _published(services), timeout=30)
    records, topics = await every_record(kafka_bootstrap, namespace)
    flush_tracing()

    leaks: list[str] = []
    allowed = 0
    for record in records:
        value = record.value_json()
        for marker in canaries.found_in((record.value or b"").decode("utf-8", "replace")):
            where = canaries.planted[marker]
            places = positions(value, marker) or ["(not JSON)"]
            for place in places:
                if allowed_on_kafka(where, place):
                    allowed += 1
                else:
                    leaks.append(f"{where} → Kafka {record.topic} value at {place}")
        for marker in canaries.found_in((record.key or b"").decode("utf-8", "replace")):
            leaks.append(f"{canaries.planted[marker]} → Kafka {record.topic} key")
        for name, header in record.headers:
            for marker in canaries.found_in(f"{name}={header.decode('utf-8', 'replace')}"):
                leaks.append(f"{canaries.planted[marker]} → Kafka {record.topic} header {name}")
    for line in lines.lines:
        leaks += [f"{canaries.planted[m]} → log line {line[:300]}" for m in canaries.found_in(line)]
    spans = exporter.get_finished_spans()
    for span in spans:
        text = span.to_json()
        leaks += [f"{canaries.planted[m]} → span {span.name!r}" for m in canaries.found_in(text)]
    for where, response in load.errors:
        leaks += [f"{canaries.planted[m]} → the {response.status_code} answering {where}: {response.text[:300]}"
                  for m in canaries.found_in(response.text)]
    leaks += await _identity_outside_its_table(pg_url, schema, canaries)

    # The scan saw what it should have: every service's topic, every request's span, log lines.
    owners = {t.rsplit(".", 3)[-3] for t in topics if t.endswith(".events.v1")}
    assert {"assessment", "pharmacy", "therapy", "coordination"} <= owners, topics
    assert len(records) >= PATIENTS * 15, f"only {len(records)} records on {topics}"
    assert len(spans) > 100 and len(lines.lines) > 10, (len(spans), len(lines.lines))
    assert len(load.errors) > 20
    print(f"{len(canaries.planted)} canaries; {len(records)} records on {len(topics)} topics, {len(lines.lines)} "
          f"log lines, {len(spans)} spans, {len(load.errors)} error bodies scanned; {allowed} at known positions")
    assert not leaks, f"{len(leaks)} canaries found where they must not be:\n" + "\n".join(sorted(set(leaks)))
