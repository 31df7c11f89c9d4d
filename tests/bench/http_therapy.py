"""(f): session completions through the therapy service's HTTP API, beside dose adjustments.

Runs on the machinery of tests/bench/http_pharmacy.py (its :class:`Workload` runner: service
processes started as ``make up`` starts them, closed-loop workers on keep-alive connections,
``GET /health`` as the baseline, the outbox and topic checked afterwards) with the therapy
service in place of pharmacy. Each enrolled patient gets one episode, and during setup
sessions are booked ahead for it (``POST …/episodes/{eid}/sessions``, one hour apart), so
the measured request is the completion alone:
``POST /v1/patients/{pid}/episodes/{eid}/sessions/{sid}/completion`` with
``expected_version`` from the previous answer. Setup books enough for the warm-up; after
it, the runner's top-up books 1.3 times what the warm-up's rate says the measured lines
will complete, and waits until the relay has published those bookings. A worker whose
booked sessions still run out books one more inside its measured request; how often that
happened is reported, since those requests did two commands.

Standalone: ``python -m tests.bench.http_therapy [--quick] [--client httpx]`` with the
stack's environment (``make bench`` runs it after the pharmacy line).
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

from services.therapy.domain.events import SessionCompleted
from shared.envelope import event_type
from tests.bench.common import progress
from tests.bench.http_pharmacy import (
    HttpReport,
    HttpSizes,
    LoadClient,
    Request,
    Service,
    Workload,
    cli,
    post_setup,
    rotation,
    run_workload,
)

SESSION_COMPLETED = event_type("therapy", SessionCompleted.event_name, SessionCompleted.version).encode()
EPISODE_START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
WARM_RATE = 700.0
"""Completions a second to book for during the warm-up: the 16-worker rate of dose
adjustments on an idle 2-core bench machine (~690/s). The measured lines are booked for
after the warm-up, from its actual rate."""

Preparer = Callable[[httpx.AsyncClient, Service, list[str], Sequence[LoadClient]], Awaitable[list["EpisodeRef"]]]
Requester = Callable[[Sequence[LoadClient], list[list["EpisodeRef"]], list[int]], Request]


@dataclass
class EpisodeRef:
    patient_id: str
    episode_id: str
    version: int
    booked: deque[tuple[str, datetime]] = field(default_factory=deque)  # scheduled, not yet completed
    sessions: int = 0  # booked so far; session k is scheduled k hours after the episode start

    @property
    def path(self) -> str:
        return f"/v1/patients/{self.patient_id}/episodes/{self.episode_id}"


def sessions_for_warmup(sizes: HttpSizes) -> int:
    return math.ceil(1.5 * WARM_RATE * sizes.warmup / sizes.patients)


async def book(client: LoadClient, episode: EpisodeRef) -> int:
    """Schedule the episode's next session; keeps its id and time for a later completion."""
    episode.sessions += 1
    at = EPISODE_START + timedelta(hours=episode.sessions)
    status, answer = await client.request("POST", f"{episode.path}/sessions",
                                          json.dumps({"scheduled_at": at.isoformat()}).encode())
    if status == 201:
        body = json.loads(answer)
        episode.version = int(body["version"])
        episode.booked.append((str(body["session_id"]), at))
    return status


def completion_body(episode: EpisodeRef, scheduled_at: datetime) -> bytes:
    return json.dumps({"completed_at": (scheduled_at + timedelta(minutes=50)).isoformat(), "duration_min": 50,
                       "techniques": ["thought_record"], "homework": ["activity_scheduling"],
                       "expected_version": episode.version}).encode()


def completer(booked_late: list[int]) -> Requester:
    """Each worker cycles through its own episodes and completes the next booked session; on
    a refusal it re-reads the episode's version."""

    def make(clients: Sequence[LoadClient], owned: list[list[EpisodeRef]], counter: list[int]) -> Request:
        next_episode = rotation(owned)

        async def request(w: int) -> str | None:
            episode = next_episode(w)
            if not episode.booked:
                booked_late[0] += 1
                status = await book(clients[w], episode)
                if status != 201:
                    return f"booking {status}"
            session_id, scheduled_at = episode.booked.popleft()
            status, answer = await clients[w].request(
                "POST", f"{episode.path}/sessions/{session_id}/completion", completion_body(episode, scheduled_at))
            if status == 201:
                episode.version = int(json.loads(answer)["version"])
                counter[0] += 1
                return None
            fresh, answer = await clients[w].request("GET", episode.path)
            if fresh == 200:
                episode.version = int(json.loads(answer)["version"])
            return str(status)

        return request

    return make


async def book_until(episodes: list[EpisodeRef], clients: Sequence[LoadClient], per_episode: int,
                     booked: list[int]) -> None:
    """Book sessions until every episode has ``per_episode`` waiting, the clients side by side."""

    async def book_ahead(c: int) -> None:
        for episode in episodes[c::len(clients)]:
            while len(episode.booked) < per_episode:
                status = await book(clients[c], episode)
                if status != 201:
                    raise RuntimeError(f"booking a session answered {status}")
                booked[0] += 1

    await asyncio.gather(*(book_ahead(c) for c in range(len(clients))))


def preparer(ahead: int, booked: list[int]) -> Preparer:
    """Start one episode per patient, then book ``ahead`` sessions for each (counted in ``booked``)."""

    async def prepare(client: httpx.AsyncClient, therapy: Service, patient_ids: list[str],
                      clients: Sequence[LoadClient]) -> list[EpisodeRef]:
        gate = asyncio.Semaphore(len(clients))

        async def start(pid: str) -> EpisodeRef:
            async with gate:
                resp = await post_setup(client, f"{therapy.base}/v1/patients/{pid}/episodes", {
                    "modality": "cbt", "care_step": 2, "started_at": EPISODE_START.isoformat()})
            if resp.status_code != 201:
                raise RuntimeError(f"starting an episode answered {resp.status_code}: {resp.text[:300]}")
            body = resp.json()
            return EpisodeRef(pid, str(body["episode_id"]), int(body["version"]))

        episodes = list(await asyncio.gather(*(start(pid) for pid in patient_ids)))
        progress(f"http: {len(episodes)} episodes started; booking {ahead} sessions ahead for each")
        await book_until(episodes, clients, ahead, booked)
        return episodes

    return prepare


def topper(booked: list[int]) -> Callable[[list[EpisodeRef], Sequence[LoadClient], int], Awaitable[None]]:
    async def top_up(episodes: list[EpisodeRef], clients: Sequence[LoadClient], n: int) -> None:
        per_episode = math.ceil(n / len(episodes))
        progress(f"http: booking up to {per_episode} sessions per episode for about {n:,} completions")
        await book_until(episodes, clients, per_episode, booked)

    return top_up


def session_completions(sizes: HttpSizes) -> Workload:
    ahead, topped, booked_late = [0], [0], [0]
    return Workload(
        service="therapy", request_label="POST session completion", noun="session completions",
        event_type=SESSION_COMPLETED, aggregates="episodes with sessions booked ahead",
        prepare=preparer(sessions_for_warmup(sizes), ahead), requester=completer(booked_late), top_up=topper(topped),
        notes=lambda: [f"sessions: {ahead[0]:,} booked in setup, {topped[0]:,} after the warm-up, {booked_late[0]:,} "
                       "inside a measured request when a worker's ran out (those requests did two commands)"])


async def bench_http(sizes: HttpSizes, run_id: str | None = None, client_kind: str = "raw",
                     processes: Sequence[int] = (1,)) -> HttpReport:
    return await run_workload(session_completions(sizes), sizes, run_id, client_kind, processes)


def main(argv: Sequence[str] | None = None) -> int:
    return cli(argv, bench_http, "bench-http-therapy", __doc__)


if __name__ == "__main__":
    sys.exit(main())
