"""A dashboard following carecoord's risk flags over Server-Sent Events.

    python examples/dashboard_sse.py --url http://127.0.0.1:8004 --token "$TOKEN"

It reads ``GET /v1/streams/flags`` (the flag changes of the token's clinics) and prints each
change. Whenever the connection ends (a network fault, a restart, the server's periodic end of
a stream) it reconnects with ``Last-Event-ID``, so no change is missed; pass
``--last-event-id`` to resume from a position kept elsewhere (``0``: the whole history).
Needs httpx only: copy the file and start from :class:`FlagStreamClient`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

import httpx

PATH = "/v1/streams/flags"


@dataclass(frozen=True)
class SseEvent:
    id: str | None
    event: str
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


class SseParser:
    """The ``text/event-stream`` format, a line at a time, as the HTML standard's
    "server-sent events" section says (so it behaves like a browser's EventSource)."""

    def __init__(self, last_event_id: str | None = None) -> None:
        self.last_event_id = last_event_id  # updated when a block ends, even one without data
        self.retry_ms: int | None = None
        self._id = last_event_id
        self._event = ""
        self._data: list[str] = []

    def feed(self, line: str) -> SseEvent | None:
        """One line without its terminator; an event when a blank line completes one."""
        if line == "":
            self.last_event_id = self._id
            event, data = self._event or "message", self._data
            self._event, self._data = "", []
            return SseEvent(self._id, event, "\n".join(data)) if data else None
        if line.startswith(":"):  # a comment: the server's heartbeat
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        elif name == "retry" and value.isdigit():
            self.retry_ms = int(value)
        return None


class StreamRefused(Exception):
    """The server will not stream to this caller (401, 403, 422): retrying cannot help."""


class FlagStreamClient:
    """Every flag change after ``last_event_id``, reconnecting for as long as it is iterated.

    ``last_event_id`` always holds the position reached, so a new client (or a new
    iteration) made with it carries on exactly there."""

    def __init__(self, base_url: str, token: str, *, last_event_id: str | None = None,
                 reconnect_seconds: float = 2.0, idle_timeout: float = 45.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.last_event_id = last_event_id
        self.reconnect_seconds = reconnect_seconds
        # Heartbeats arrive every 15 s: silence for longer means the connection is dead.
        self.timeout = httpx.Timeout(10.0, read=idle_timeout)
        self.connections = 0

    async def changes(self) -> AsyncGenerator[SseEvent, None]:
        """Stop by leaving the loop; wrap in ``contextlib.aclosing`` to close the connection then."""
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            while True:
                try:
                    async for event in self._connection(client):
                        yield event
                except httpx.TransportError as exc:
                    print(f"stream interrupted ({type(exc).__name__}); reconnecting", file=sys.stderr)
                await asyncio.sleep(self.reconnect_seconds)

    async def _connection(self, client: httpx.AsyncClient) -> AsyncGenerator[SseEvent, None]:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "text/event-stream"}
        if self.last_event_id is not None:
            headers["Last-Event-ID"] = self.last_event_id
        async with client.stream("GET", self.base_url + PATH, headers=headers) as response:
            if response.status_code in (401, 403, 422):
                await response.aread()
                raise StreamRefused(f"{response.status_code}: {response.text}")
            if response.status_code != 200:  # 503: the service's database is away for a moment
                print(f"stream answered {response.status_code}; reconnecting", file=sys.stderr)
                return
            self.connections += 1
            parser = SseParser(self.last_event_id)
            async for line in response.aiter_lines():
                event = parser.feed(line)
                self.last_event_id = parser.last_event_id
                if parser.retry_ms is not None:
                    self.reconnect_seconds = parser.retry_ms / 1000
                if event is not None:
                    yield event


def describe(event: SseEvent) -> str:
    flag = event.json()
    return (f"#{event.id} {event.event:<12} {flag.get('severity', '?'):<7} {flag.get('rule_id', '?')} "
            f"flag={flag.get('flag_id')} patient={flag.get('patient_id')} clinic={flag.get('clinic_id')} "
            f"status={flag.get('status')}")


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print carecoord's flag changes as they happen (SSE).")
    parser.add_argument("--url", default="http://127.0.0.1:8004", help="the coordination service")
    parser.add_argument("--token", default=os.environ.get("CARECOORD_TOKEN"),
                        help="a bearer token with the dashboard or coordinator role (default: $CARECOORD_TOKEN)")
    parser.add_argument("--last-event-id", default=None, help="resume after this change id (0: everything)")
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("a token is needed: --token or CARECOORD_TOKEN")
    stream = FlagStreamClient(args.url, args.token, last_event_id=args.last_event_id)
    try:
        async with contextlib.aclosing(stream.changes()) as changes:
            async for event in changes:
                print(describe(event), flush=True)
    except StreamRefused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(asyncio.run(main()))
