"""``GET /v1/streams/flags`` on a served coordination service: a dashboard that disconnects
and comes back gets every change it missed, sees its own clinics only, is told the stream is
alive when nothing happens, and never loses a change that a slow transaction commits late."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import httpx
import pytest
from streams_support import FAST, Collector, StreamService, insert_change, stream_service

from examples.dashboard_sse import SseParser
from services.coordination.streams import FlagStreamSettings
from tests.support.services import token


@pytest.fixture
async def service(pg_url: str, kafka_bootstrap: str, schema: str, namespace: str):
    async with stream_service(pg_url, kafka_bootstrap, schema, namespace) as s:
        yield s


async def test_a_dashboard_away_for_ten_seconds_gets_every_change_it_missed(service: StreamService) -> None:
    client = service.client("dashboard")
    async with Collector(client) as before:
        first = [await insert_change(service.pool, change=c, flag_id="f-1") for c in ("raised", "acknowledged")]
        assert await before.wait_for(2) == first
    # Disconnected: flags are raised (and one resolved) in this clinic and another for 10 s.
    missed: list[int] = []
    loop = asyncio.get_running_loop()
    away_until = loop.time() + 10
    n = 0
    while loop.time() < away_until:
        missed.append(await insert_change(service.pool, patient=f"p-{n}"))
        await insert_change(service.pool, "clinic-b", patient=f"q-{n}")
        n += 1
        await asyncio.sleep(1)
    missed.append(await insert_change(service.pool, change="resolved", flag_id="f-1"))
    assert client.last_event_id == str(first[-1])
    async with Collector(client) as after:  # the same client: it sends Last-Event-ID
        assert await after.wait_for(len(missed)) == missed
        await asyncio.sleep(0.5)
    assert after.ids == missed, "nothing twice, nothing of clinic-b"
    assert [e.event for e in after.events] == ["raised"] * (len(missed) - 1) + ["resolved"]
    assert after.events[-1].json()["flag_id"] == "f-1" and after.events[-1].json()["status"] == "resolved"
    assert client.connections == 2


async def test_a_dashboard_sees_its_own_clinics_only(service: StreamService) -> None:
    both = service.client("coordinator", clinics=("clinic-a", "clinic-b"), last_event_id="0")
    async with Collector(service.client(clinics=("clinic-a",))) as a, \
            Collector(service.client(clinics=("clinic-b",))) as b, Collector(both) as ab:
        written = [(clinic, await insert_change(service.pool, clinic))
                   for clinic in ("clinic-a", "clinic-b", "clinic-c", "clinic-a", "clinic-b")]
        await ab.wait_for(4)
        await asyncio.sleep(0.5)
    assert a.ids == [i for c, i in written if c == "clinic-a"]
    assert b.ids == [i for c, i in written if c == "clinic-b"]
    assert ab.ids == [i for c, i in written if c != "clinic-c"]
    assert {e.json()["clinic_id"] for e in a.events} == {"clinic-a"}


@pytest.mark.parametrize("roles, status", [((), 401), (("prescriber",), 403), (("auditor", "therapist"), 403),
                                           (("dashboard",), 200), (("coordinator",), 200)])
async def test_only_dashboards_and_coordinators_may_follow(service: StreamService, roles: tuple[str, ...],
                                                           status: int) -> None:
    headers = token(*roles) if roles else {}
    async with httpx.AsyncClient(base_url=service.url, timeout=10) as http, \
            http.stream("GET", "/v1/streams/flags", headers=headers) as response:
        assert response.status_code == status
        if status == 200:
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["cache-control"] == "no-cache"


async def test_an_idle_stream_sends_heartbeats(service: StreamService) -> None:
    lines: list[str] = []

    async def read() -> None:
        async with httpx.AsyncClient(base_url=service.url, timeout=10) as http, \
                http.stream("GET", "/v1/streams/flags", headers=token("dashboard")) as response:
            async for line in response.aiter_lines():
                lines.append(line)

    reader = asyncio.create_task(read())
    await asyncio.sleep(FAST.heartbeat_seconds * 3.5)
    reader.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reader
    # The opening block sets the client's position (it saw no event yet) and its retry delay.
    assert lines[0] == f"retry: {FAST.retry_ms}" and lines[1].startswith("id: ") and lines[2] == ""
    assert lines.count(": heartbeat") >= 2
    assert not any(line.startswith(("data:", "event:")) for line in lines)


@pytest.mark.parametrize("late", ["the lower id commits last", "the earlier xid draws the higher id",
                                  "the lower id is rolled back"])
async def test_a_change_committed_late_is_not_lost(service: StreamService, late: str) -> None:
    """Two transactions write flag changes; the one holding the lower change id ends last."""
    slow, fast = await service.connect(), await service.connect()
    try:
        async with Collector(service.client()) as seen:
            await slow.execute("BEGIN")
            await fast.execute("BEGIN")
            if late == "the earlier xid draws the higher id":
                # The fast transaction has the older xid, so "xmin below the snapshot's xmin"
                # would pass its row while the slow one's lower id is still in flight.
                await fast.execute("SELECT pg_current_xact_id()")
            lower = await insert_change(slow, patient="slow")
            higher = await insert_change(fast, patient="fast")
            await fast.execute("COMMIT")
            await asyncio.sleep(1.0)  # twenty polls
            assert seen.ids == [], "a change was sent while a lower id was still in flight"
            await slow.execute("ROLLBACK" if late == "the lower id is rolled back" else "COMMIT")
            expected = [higher] if late == "the lower id is rolled back" else [lower, higher]
            assert await seen.wait_for(len(expected)) == expected
            await asyncio.sleep(0.3)
        assert seen.ids == expected
    finally:
        await slow.close()
        await fast.close()


async def test_the_position_can_come_from_the_query_and_the_header_wins(service: StreamService) -> None:
    ids = [await insert_change(service.pool) for _ in range(4)]

    async def first_event(params: dict[str, str], headers: dict[str, str]) -> str | None:
        async with httpx.AsyncClient(base_url=service.url, timeout=10) as http, \
                http.stream("GET", "/v1/streams/flags", params=params,
                            headers=token("dashboard") | headers) as response:
            assert response.status_code == 200
            parser = SseParser()
            async for line in response.aiter_lines():
                if (event := parser.feed(line)) is not None:
                    return event.id
        return None

    assert await first_event({"last_event_id": str(ids[0])}, {}) == str(ids[1])
    assert await first_event({"last_event_id": str(ids[0])}, {"Last-Event-ID": str(ids[2])}) == str(ids[3])
    # A position beyond every id ever drawn (numbering restarted after a rebuild): from the start.
    assert await first_event({}, {"Last-Event-ID": "999999"}) == str(ids[0])


@pytest.mark.parametrize("where", ["header", "query"])
async def test_a_position_that_is_not_a_change_id_is_refused(service: StreamService, where: str) -> None:
    args = {"headers": token("dashboard") | {"Last-Event-ID": "abc"}} if where == "header" else {
        "headers": token("dashboard"), "params": {"last_event_id": "-1"}}
    async with httpx.AsyncClient(base_url=service.url, timeout=10) as http:
        response = await http.get("/v1/streams/flags", **args)  # type: ignore[arg-type]
    assert response.status_code == 422
    assert "abc" not in response.text


async def test_the_route_is_in_the_openapi_document(service: StreamService) -> None:
    async with httpx.AsyncClient(base_url=service.url, timeout=10) as http:
        spec = (await http.get("/openapi.json")).json()
    operation = spec["paths"]["/v1/streams/flags"]["get"]
    assert "text/event-stream" in operation["responses"]["200"]["content"]
    assert {p["name"] for p in operation["parameters"]} == {"Last-Event-ID", "last_event_id"}


async def test_opening_is_logged_once_and_no_event_is_an_access_log_row(service: StreamService,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="services.coordination.streams")
    async with Collector(service.client("dashboard", clinics=("clinic-b", "clinic-a"))) as seen:
        for _ in range(3):
            await insert_change(service.pool)
        await seen.wait_for(3)
    opened = [r.getMessage() for r in caplog.records if r.name == "services.coordination.streams"]
    assert opened == ["flag stream opened by staff staff-1 for clinics clinic-a,clinic-b after change 0"]
    assert await service.pool.fetchval("SELECT count(*) FROM access_log") == 0


async def test_a_stream_the_server_ends_is_resumed_without_loss(pg_url: str, kafka_bootstrap: str, schema: str,
                                                                namespace: str) -> None:
    short = FlagStreamSettings(heartbeat_seconds=0.5, poll_seconds=0.05, max_seconds=0.7, retry_ms=50)
    async with stream_service(pg_url, kafka_bootstrap, schema, namespace, short) as service:
        client = service.client()
        async with Collector(client) as seen:
            written = []
            for _ in range(12):
                written.append(await insert_change(service.pool))
                await asyncio.sleep(0.2)
            await seen.wait_for(len(written))
            await asyncio.sleep(0.3)
        assert seen.ids == written
        assert client.connections >= 3
