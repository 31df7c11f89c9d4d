"""Every service answers /metrics with what an operator pages on, parsed by prometheus-client's
own parser: requests by route template, commands by outcome, outbox backlog and age, relay
leadership, consumer lag per group/topic/partition, events applied, state-cache hits and
the database pool. No label holds a patient id."""

from __future__ import annotations

import httpx

from tests.integration.ops.ops_support import (
    PRESCRIBER,
    Families,
    assess,
    enroll,
    scrape,
    services,
    total,
    value,
)
from tests.support.services import wait_until

SERTRALINE = {"code": "36437", "system": "RxNorm", "name": "sertraline"}
START = {"drug": SERTRALINE, "dose": 50, "unit": "mg", "schedule": {"times_per_day": 1}, "route": "oral",
         "indication": {"system": "ICD-10", "code": "F32.1"}, "started_at": "2026-11-01T08:00:00Z"}

EVERY_SERVICE = {
    "carecoord_build_info", "carecoord_http_requests", "carecoord_http_request_duration_seconds",
    "carecoord_commands", "carecoord_outbox_backlog", "carecoord_outbox_oldest_unsent_age_seconds",
    "carecoord_outbox_parked", "carecoord_relay_leader", "carecoord_relay_published", "carecoord_relay_parked",
    "carecoord_relay_failures", "carecoord_consumer_lag", "carecoord_consumer_ready",
    "carecoord_projection_events_applied", "carecoord_projection_events_dead_lettered",
    "carecoord_state_cache_hits", "carecoord_state_cache_misses", "carecoord_db_pool_connections_in_use",
    "carecoord_db_pool_connections", "carecoord_db_pool_max_connections", "carecoord_metrics_source_up",
}
CONSUMING = {"pharmacy": "patient_directory", "therapy": "patient_directory", "coordination": "coordination"}


async def test_each_service_is_scraped_and_no_label_holds_a_patient_id(
        pg_url: str, kafka_bootstrap: str, schema: str, namespace: str) -> None:
    async with services(("assessment", "pharmacy", "therapy", "coordination"), pg_url=pg_url,
                        kafka=kafka_bootstrap, schema=schema, namespace=namespace) as s:
        patient = await enroll(s["assessment"].client)
        await assess(s["assessment"].client, patient)
        ph = s["pharmacy"].client
        base = f"/v1/patients/{patient}/medications"
        started = await ph.post(base, json=START, headers=PRESCRIBER)
        assert started.status_code == 201, started.text
        course = started.json()["medication_id"]
        adjust = {"dose": 100, "unit": "mg", "reason": "insufficient_response", "effective_at": "2026-11-15T08:00:00Z",
                  "expected_version": 1}
        assert (await ph.post(f"{base}/{course}/dose-adjustments", json=adjust, headers=PRESCRIBER)).status_code == 201
        # The same expected version again: a concurrent writer's conflict.
        assert (await ph.post(f"{base}/{course}/dose-adjustments", json=adjust, headers=PRESCRIBER)).status_code == 409
        assert (await ph.post(f"{base}/{course}/dose-adjustments", json={"dose": "x"},
                              headers=PRESCRIBER)).status_code == 422
        assert (await ph.get(base, headers=PRESCRIBER)).status_code == 200

        async def settled() -> dict[str, Families] | None:
            scraped = {name: await scrape(service.client) for name, service in s.items()}
            for name, families in scraped.items():
                if value(families, "carecoord_outbox_backlog") != 0 or value(families, "carecoord_relay_leader") != 1:
                    return None
                if name in CONSUMING and (total(families, "carecoord_projection_events_applied_total") < 2
                                          or total(families, "carecoord_consumer_lag") != 0
                                          or not families["carecoord_consumer_lag"]):
                    return None
            return scraped

        scraped: dict[str, Families] = await wait_until(settled, timeout=60, interval=0.5)
        identifiers = {patient, course}
        # A scrape is a request like any other (counted once it has answered).
        again = await scrape(ph)
        assert value(again, "carecoord_http_requests_total", route="/metrics", method="GET", status="200")

    for name, families in scraped.items():
        assert EVERY_SERVICE <= families.keys(), (name, EVERY_SERVICE - families.keys())
        _assert_no_identifier(families, identifiers)
        assert value(families, "carecoord_build_info", service=name) == 1
        assert value(families, "carecoord_outbox_oldest_unsent_age_seconds") == 0
        assert value(families, "carecoord_db_pool_max_connections") == 10
        assert value(families, "carecoord_metrics_source_up", source="outbox") == 1
        assert value(families, "carecoord_metrics_source_up", source="consumers") == 1
    for name, projection in CONSUMING.items():
        families = scraped[name]
        lag = families["carecoord_consumer_lag"]
        assert {s.labels["topic"] for s in lag} >= {f"{namespace}carecoord.assessment.events.v1"}
        assert all(s.labels["group"].startswith(namespace) and s.labels["partition"].isdigit() for s in lag)
        assert value(families, "carecoord_consumer_ready", projection=projection) == 1
        assert value(families, "carecoord_projection_events_dead_lettered_total", projection=projection) == 0

    assessment = scraped["assessment"]
    assert value(assessment, "carecoord_relay_published_total") == 2  # the enrolment and the assessment
    assert value(assessment, "carecoord_commands_total", command="enroll", outcome="accepted") == 1

    pharmacy = scraped["pharmacy"]
    route = "/v1/patients/{patient_id}/medications/{medication_id}/dose-adjustments"
    assert value(pharmacy, "carecoord_http_requests_total", route=route, method="POST", status="201") == 1
    assert value(pharmacy, "carecoord_http_requests_total", route=route, method="POST", status="409") == 1
    assert value(pharmacy, "carecoord_http_request_duration_seconds_count", route=route, method="POST",
                 status="201") == 1
    assert value(pharmacy, "carecoord_commands_total", command="start", outcome="accepted") == 1
    assert value(pharmacy, "carecoord_commands_total", command="adjust", outcome="accepted") == 1
    assert value(pharmacy, "carecoord_commands_total", command="adjust", outcome="conflict",
                 reason="version_conflict") == 1
    assert value(pharmacy, "carecoord_commands_total", command="adjust", outcome="refused", reason="validation") == 1
    # The start folds a new stream (a miss); the adjustments start from its cached state.
    hits = value(pharmacy, "carecoord_state_cache_hits_total", cache="courses")
    assert hits is not None and hits >= 2
    assert value(pharmacy, "carecoord_state_cache_misses_total", cache="courses") == 1
    assert value(pharmacy, "carecoord_relay_published_total") == 2


def _assert_no_identifier(families: Families, identifiers: set[str]) -> None:
    for samples in families.values():
        for sample in samples:
            for label in sample.labels.values():
                assert not any(i in label for i in identifiers), (sample.name, label)


async def test_a_scrape_answers_with_the_database_away(pg_url: str, kafka_bootstrap: str, schema: str,
                                                      namespace: str) -> None:
    """A source that cannot be read is left out and flagged; the scrape itself still answers."""
    async with services(("assessment",), pg_url=pg_url, kafka=kafka_bootstrap, schema=schema,
                        namespace=namespace) as s:
        client: httpx.AsyncClient = s["assessment"].client
        runtime = s["assessment"].app.state.runtime
        async with runtime.pool.acquire() as conn:
            await conn.execute("ALTER TABLE outbox RENAME TO outbox_away")
            try:
                families = await scrape(client)
            finally:
                await conn.execute("ALTER TABLE outbox_away RENAME TO outbox")
        assert value(families, "carecoord_metrics_source_up", source="outbox") == 0
        assert "carecoord_outbox_backlog" not in families
        assert value(families, "carecoord_db_pool_max_connections") == 10
        assert value(await scrape(client), "carecoord_metrics_source_up", source="outbox") == 1
