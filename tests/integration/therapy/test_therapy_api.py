"""The therapy service end to end with the assessment service beside it: patients and their
clinics come from enrollment events through the directory; commands go in over HTTP and come
out on the real topic with CloudEvents headers."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from shared.kafka import headers as ce
from tests.integration.therapy.support import COORD, THERAPIST, Stack, enroll, episode_body, post
from tests.support.services import read_topic, token

EVENT_NAMES = ["TherapyEpisodeStarted", "SessionScheduled", "SessionScheduled", "SessionScheduled",
               "SessionCompleted", "SessionMissed", "SessionCancelled", "ModalityChanged", "CareStepChanged",
               "TherapyEpisodeEnded"]


@pytest.fixture
async def stack(serve: Callable[..., Awaitable[Stack]]) -> dict[str, Any]:
    running = await serve("assessment", "therapy")
    return {"assessment": running.client["assessment"], "therapy": running.client["therapy"],
            "app": running.app["therapy"], "settings": running.settings["therapy"]}


async def a_whole_episode(th: httpx.AsyncClient, pid: str) -> str:
    """Start, three sessions (held, missed, cancelled), a modality and a step change, the end."""
    base = f"/v1/patients/{pid}/episodes"
    eid = (await post(th, base, episode_body()))["episode_id"]
    sessions = [(await post(th, f"{base}/{eid}/sessions", {"scheduled_at": f"2026-11-{day}T10:00:00Z"}))["session_id"]
                for day in ("09", "16", "23")]
    done = await post(th, f"{base}/{eid}/sessions/{sessions[0]}/completion", {
        "completed_at": "2026-11-09T10:50:00Z", "duration_min": 50, "techniques": ["thought_record"],
        "homework": ["activity_scheduling", "sleep_diary"], "expected_version": 4})
    assert (done["version"], done["session_status"], done["event_type"]) == (5, "completed", "SessionCompleted")
    await post(th, f"{base}/{eid}/sessions/{sessions[1]}/no-show")
    await post(th, f"{base}/{eid}/sessions/{sessions[2]}/cancellation",
               {"cancelled_at": "2026-11-20T08:00:00Z", "by": "clinic"}, headers=COORD)
    await post(th, f"{base}/{eid}/modality-changes", {
        "modality": "behavioral_activation", "reason": "partial_response", "changed_at": "2026-11-24T09:00:00Z"})
    await post(th, f"{base}/{eid}/care-step-changes", {"to_step": 3, "reason": "non_response",
                                                       "changed_at": "2026-11-24T09:05:00Z"})
    ended = await post(th, f"{base}/{eid}/end", {"reason": "transfer", "ended_at": "2026-11-30T09:00:00Z"})
    assert (ended["status"], ended["version"]) == ("ended", len(EVENT_NAMES))
    return str(eid)


async def test_every_event_reaches_the_topic_with_cloudevents_headers_in_sequence(stack, kafka_bootstrap) -> None:  # type: ignore[no-untyped-def]
    pid = await enroll(stack["assessment"])
    th: httpx.AsyncClient = stack["therapy"]
    first = await a_whole_episode(th, pid)
    second = await a_whole_episode(th, pid)

    records = await read_topic(kafka_bootstrap, stack["settings"].topic(), at_least=2 * len(EVENT_NAMES))
    assert len(records) == 2 * len(EVENT_NAMES)
    by_episode: dict[str, list[dict[str, bytes]]] = defaultdict(list)
    for record in records:
        h = dict(record.headers)
        assert record.key == pid.encode() and h["ce_partitionkey"] == pid.encode()
        assert h["ce_specversion"] == b"1.0" and h["ce_source"] == b"/carecoord/therapy"
        assert h["ce_subject"] == pid.encode() and h["ce_clinicid"] == b"clinic-a"
        assert h["content-type"] == b"application/json" and h["ce_id"] and h["ce_recordedat"]
        by_episode[h["ce_streamid"].decode()].append(h)
    assert set(by_episode) == {f"episode-{first}", f"episode-{second}"}
    for headers in by_episode.values():  # one patient's events share a partition: stream order holds
        assert [int(h["ce_sequence"]) for h in headers] == list(range(1, len(EVENT_NAMES) + 1))
        assert [h["ce_type"].decode() for h in headers] == [f"carecoord.therapy.{n}.v1" for n in EVENT_NAMES]
    completed = next(r for r in records if dict(r.headers)["ce_type"] == b"carecoord.therapy.SessionCompleted.v1")
    h = dict(completed.headers)
    assert h["ce_time"].decode().startswith("2026-11-09T10:50") and h["ce_actor"] == b"therapist-4"
    payload = ce.decode(completed.value, completed.headers).payload
    assert payload["duration_min"] == 50 and payload["homework"] == ["activity_scheduling", "sleep_diary"]
    started = ce.decode(records[0].value, records[0].headers).payload
    assert started["therapist_id"] == "therapist-4" and started["occurred_at"] == "2026-11-02T09:00:00+01:00"


async def test_episodes_read_back_with_counts_sessions_and_history(stack) -> None:  # type: ignore[no-untyped-def]
    pid = await enroll(stack["assessment"])
    th: httpx.AsyncClient = stack["therapy"]
    base = f"/v1/patients/{pid}/episodes"
    ended = await a_whole_episode(th, pid)
    active = (await post(th, base, episode_body(modality="act", care_step=1, started_at="2026-12-01T09:00:00Z")))
    listed = (await th.get(base, headers=token("prescriber"))).json()
    assert [(e["episode_id"], e["status"], e["modality"], e["care_step"], e["version"]) for e in listed] == [
        (active["episode_id"], "active", "act", 1, 1), (ended, "ended", "behavioral_activation", 3, 10)]
    assert listed[1]["session_counts"] == {"scheduled": 0, "completed": 1, "missed": 1, "cancelled": 1}
    assert listed[1]["end_reason"] == "transfer"
    one = (await th.get(f"{base}/{ended}", headers=token("auditor"))).json()
    assert [s["status"] for s in one["sessions"]] == ["completed", "missed", "cancelled"]
    assert one["sessions"][1]["missed_at"] == "2026-11-16T10:00:00Z"  # the scheduled time by default
    assert one["sessions"][2]["cancelled_by"] == "clinic"
    assert [h["event_type"] for h in one["history"]] == EVENT_NAMES
    assert (await th.get(f"{base}/no-such-episode", headers=COORD)).status_code == 404


async def test_nothing_is_recorded_after_the_end(stack) -> None:  # type: ignore[no-untyped-def]
    pid = await enroll(stack["assessment"])
    th: httpx.AsyncClient = stack["therapy"]
    base = f"/v1/patients/{pid}/episodes"
    eid = (await post(th, base, episode_body()))["episode_id"]
    sid = (await post(th, f"{base}/{eid}/sessions", {"scheduled_at": "2026-11-09T10:00:00Z"}))["session_id"]
    await post(th, f"{base}/{eid}/end", {"reason": "dropout", "ended_at": "2026-11-05T09:00:00Z"})
    refused = await th.post(f"{base}/{eid}/sessions/{sid}/completion", headers=THERAPIST,
                            json={"completed_at": "2026-11-09T10:50:00Z", "duration_min": 50})
    assert refused.status_code == 409 and "ended" in refused.json()["detail"], refused.text
    assert (await th.post(f"{base}/{eid}/end", headers=THERAPIST, json={
        "reason": "dropout", "ended_at": "2026-11-06T09:00:00Z"})).status_code == 409
    assert (await th.post(f"{base}/{eid}/sessions", headers=THERAPIST, json={
        "scheduled_at": "2026-11-10T10:00:00Z"})).status_code == 409
    assert (await th.get(f"{base}/{eid}", headers=COORD)).json()["version"] == 3


async def test_another_clinic_gets_404_and_nothing_is_written(stack) -> None:  # type: ignore[no-untyped-def]
    pid = await enroll(stack["assessment"], clinic="clinic-a")
    th: httpx.AsyncClient = stack["therapy"]
    base = f"/v1/patients/{pid}/episodes"
    eid = (await post(th, base, episode_body()))["episode_id"]
    sid = (await post(th, f"{base}/{eid}/sessions", {"scheduled_at": "2026-11-09T10:00:00Z"}))["session_id"]
    store = stack["app"].state.runtime.store
    before = len(await store.read_all())
    other = token("therapist", "coordinator", "auditor", clinics=("clinic-b",))
    for path, body in [(base, episode_body()), (f"{base}/{eid}/sessions", {"scheduled_at": "2026-11-10T10:00:00Z"}),
                       (f"{base}/{eid}/sessions/{sid}/completion",
                        {"completed_at": "2026-11-09T10:50:00Z", "duration_min": 50}),
                       (f"{base}/{eid}/end", {"reason": "other", "ended_at": "2026-11-20T10:00:00Z"})]:
        resp = await th.post(path, json=body, headers=other)
        assert resp.status_code == 404, (path, resp.text)
    for path in (base, f"{base}/{eid}", f"/v1/patients/{pid}/access-log"):
        assert (await th.get(path, headers=other)).status_code == 404
    missing = await th.post("/v1/patients/no-such-patient/episodes", json=episode_body(), headers=THERAPIST)
    assert missing.status_code == 404 and missing.json() == (await th.get(base, headers=other)).json()
    assert len(await store.read_all()) == before
    assert (await th.post(base, json=episode_body(), headers=token("prescriber"))).status_code == 403
    # another patient of the same clinic cannot reach this episode through their own path
    neighbour = await enroll(stack["assessment"])
    assert (await th.post(f"/v1/patients/{neighbour}/episodes/{eid}/end", headers=THERAPIST,
                          json={"reason": "other", "ended_at": "2026-11-20T10:00:00Z"})).status_code == 404
    assert (await th.get(f"/v1/patients/{neighbour}/episodes/{eid}", headers=COORD)).status_code == 404
    assert len(await store.read_all()) == before


async def test_bad_input_is_422_naming_the_field(stack) -> None:  # type: ignore[no-untyped-def]
    pid = await enroll(stack["assessment"])
    th: httpx.AsyncClient = stack["therapy"]
    base = f"/v1/patients/{pid}/episodes"
    for body, loc in [(episode_body(started_at="2026-11-02T09:00:00"), ["body", "started_at"]),
                      (episode_body(modality="hypnosis"), ["body", "modality"]),
                      (episode_body(care_step=5), ["body", "care_step"]),
                      (episode_body(setting="couch"), ["body", "setting"])]:
        resp = await th.post(base, json=body, headers=THERAPIST)
        assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == loc, resp.text
    eid = (await post(th, base, episode_body()))["episode_id"]
    sid = (await post(th, f"{base}/{eid}/sessions", {"scheduled_at": "2026-11-09T10:00:00Z"}))["session_id"]
    session = f"{base}/{eid}/sessions/{sid}"
    for path, body, where, reason in [
        (f"{session}/completion", {"completed_at": "2026-11-07T10:00:00Z", "duration_min": 50},
         ["body", "completed_at"], "scheduled"),
        (f"{session}/completion", {"completed_at": "2026-11-09T10:50:00Z", "duration_min": 0},
         ["body", "duration_min"], ""),
        (f"{session}/completion", {"completed_at": "2026-11-09T10:50:00Z", "duration_min": 50,
                                   "techniques": ["hypnosis"]}, ["body", "techniques", 0], ""),
        (f"{base}/{eid}/modality-changes", {"modality": "cbt", "reason": "other", "changed_at": "2026-11-09T10:00:00Z"},
         ["body", "modality"], "differ"),
        (f"{base}/{eid}/care-step-changes", {"to_step": 2, "reason": "other", "changed_at": "2026-11-09T10:00:00Z"},
         ["body", "to_step"], "differ"),
        (f"{base}/{eid}/end", {"reason": "finished", "ended_at": "2026-11-09T10:00:00Z"}, ["body", "reason"], ""),
    ]:
        resp = await th.post(path, json=body, headers=THERAPIST)
        assert resp.status_code == 422, (path, resp.text)
        detail = resp.json()["detail"][0]
        assert detail["loc"] == where and reason in detail["msg"], resp.text
    assert (await th.get(f"{base}/{eid}", headers=COORD)).json()["version"] == 2


async def test_retry_with_the_same_key_records_once_and_stale_versions_conflict(stack) -> None:  # type: ignore[no-untyped-def]
    pid = await enroll(stack["assessment"])
    th: httpx.AsyncClient = stack["therapy"]
    base = f"/v1/patients/{pid}/episodes"
    eid = (await post(th, base, episode_body()))["episode_id"]
    keyed = {**THERAPIST, "Idempotency-Key": "schedule-1"}
    body = {"scheduled_at": "2026-11-09T10:00:00Z", "expected_version": 1}
    first, again = [await th.post(f"{base}/{eid}/sessions", json=body, headers=keyed) for _ in range(2)]
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() and again.headers.get("idempotent-replayed") == "true"
    other_body = await th.post(f"{base}/{eid}/sessions", json={"scheduled_at": "2026-11-10T10:00:00Z"}, headers=keyed)
    assert other_body.status_code == 422
    episode = (await th.get(f"{base}/{eid}", headers=COORD)).json()
    assert episode["version"] == 2 and len(episode["sessions"]) == 1
    stale = await th.post(f"{base}/{eid}/care-step-changes", headers=THERAPIST, json={
        "to_step": 3, "reason": "non_response", "changed_at": "2026-11-20T10:00:00Z", "expected_version": 1})
    assert stale.status_code == 409, stale.text


async def test_every_read_is_recorded_for_auditors(stack) -> None:  # type: ignore[no-untyped-def]
    pid = await enroll(stack["assessment"])
    th: httpx.AsyncClient = stack["therapy"]
    base = f"/v1/patients/{pid}/episodes"
    eid = (await post(th, base, episode_body()))["episode_id"]
    await th.get(base, headers=token("coordinator", sub="nurse-9"))
    await th.get(f"{base}/{eid}", headers=token("prescriber", sub="doctor-2"))
    assert (await th.get(f"/v1/patients/{pid}/access-log", headers=COORD)).status_code == 403
    log = (await th.get(f"/v1/patients/{pid}/access-log", headers=token("auditor", sub="auditor-1"))).json()
    assert [(e["staff_id"], e["action"], e["clinic_id"], e["status"]) for e in log] == [
        ("nurse-9", "read therapy episodes", "clinic-a", None),
        ("doctor-2", "read therapy episode", "clinic-a", None),
        ("staff-1", "refused request", "clinic-a", 403),  # refused attempts are recorded too
        ("auditor-1", "read access log", "clinic-a", None),
    ]
