"""Request limits, checked before any route, dependency or token check runs.

Without them a 60 MB body is read in full before the 401, and a JSON array of five million
items costs 250 MB once parsed. :class:`RequestLimits` is pure ASGI (nothing buffered but
the bounded body): headers above ``max_header_bytes`` answer 431; a body above
``max_body_bytes`` answers 413, on its ``Content-Length`` without reading it, or as soon as
a chunked upload passes the limit; a JSON body nested deeper than ``max_json_depth`` or with
an array longer than ``max_json_array``, or a NaN/Infinity literal, answers 422 naming the
field, before it is parsed.

:class:`RateLimiter` is the per-principal token bucket the authenticator consults once a
token is verified (a caller is known only then: an unverified ``sub`` would let anyone spend
someone else's budget). It lives in the process: with N instances behind a load balancer a
principal gets up to N times the rate.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 64 * 1024
    max_header_bytes: int = 16 * 1024
    max_json_depth: int = 32
    max_json_array: int = 1000


class RequestLimits:
    """ASGI middleware enforcing :class:`Limits` on every HTTP request."""

    def __init__(self, app: ASGIApp, limits: Limits | None = None) -> None:
        self.app = app
        self.limits = limits or Limits()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limits = self.limits
        headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
        if sum(len(name) + len(value) + 4 for name, value in headers) > limits.max_header_bytes:
            await _answer(send, 431, f"request headers larger than {limits.max_header_bytes} bytes")
            return
        length, chunked, content_type = _framing(headers)
        if length is not None and length > limits.max_body_bytes:
            await _answer(send, 413, _too_large(limits))
            return
        if not chunked and not length:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive, limits.max_body_bytes)
        if body is None:
            await _answer(send, 413, _too_large(limits))
            return
        if _is_json(content_type) and (problem := json_problem(body, limits)) is not None:
            loc, msg, kind = problem
            await _send_json(send, 422, {"detail": [{"loc": loc, "msg": msg, "type": kind}]})
            return
        await self.app(scope, _replay(body, receive), send)


def _too_large(limits: Limits) -> str:
    return f"request body larger than {limits.max_body_bytes} bytes"


def _framing(headers: list[tuple[bytes, bytes]]) -> tuple[int | None, bool, bytes | None]:
    length: int | None = None
    chunked = False
    content_type: bytes | None = None
    for name, value in headers:
        if name == b"content-length" and length is None:
            # The server (h11, httptools) refuses a malformed length before we see it.
            length = int(value) if value.strip().isdigit() else None
        elif name == b"transfer-encoding":
            chunked = True
        elif name == b"content-type":
            content_type = value
    return length, chunked, content_type


def _is_json(content_type: bytes | None) -> bool:
    # FastAPI parses a body without a content type as JSON too.
    return content_type is None or b"json" in content_type.lower()


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it passes ``limit`` (the rest is never read)."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return bytes(body)  # the client went away; the app sees an empty or partial body
        body += message.get("body", b"")
        if len(body) > limit:
            return None
        if not message.get("more_body", False):
            return bytes(body)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body as one message, then the real channel (a disconnect, for streaming routes)."""
    pending = True

    async def replayed() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def _answer(send: Send, status: int, detail: str) -> None:
    await _send_json(send, status, {"detail": detail})


async def _send_json(send: Send, status: int, content: dict[str, Any]) -> None:
    body = json.dumps(content).encode()
    # Connection: close, so a client still sending a refused body is not read any further.
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


# Strings (so brackets inside them are skipped), the structural characters of JSON, and the
# NaN/Infinity literals Python's parser accepts but JSON has not: stored in an event, they
# would make its payload unreadable to every other JSON consumer.
_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},]|NaN|-?Infinity', re.DOTALL)
_MAX_KEY_CHARS = 64


class _Frame:
    __slots__ = ("array", "expect_key", "label")

    def __init__(self, array: bool) -> None:
        self.array = array
        self.label: str | int = 0 if array else ""  # the current index, or the current key
        self.expect_key = not array


def json_problem(body: bytes, limits: Limits) -> tuple[list[str | int], str, str] | None:
    """(loc, message, type) of undecodable bytes or the first depth, array-length or NaN/Infinity
    violation, else None.

    A scan of the raw bytes, so a hostile body costs neither recursion nor the objects a
    parse would build; malformed JSON is left to the parser, which reports it as usual. Bytes
    that are no text at all are refused here: the parser fails on them before it sees JSON,
    and FastAPI answers that with a 400 where any other bad input is a 422.
    """
    try:
        body.decode(json.detect_encoding(body))  # what json.loads decodes a body with
    except UnicodeDecodeError:
        return ["body"], "JSON text must be UTF-8 encoded", "json_invalid"
    if _plainly_within(body, limits):
        return None
    stack: list[_Frame] = []
    for match in _TOKENS.finditer(body):
        token = match.group()
        char = token[:1]
        top = stack[-1] if stack else None
        if char == b'"':
            if top is not None and top.expect_key:
                top.label, top.expect_key = _key(token), False
        elif char in (b"[", b"{"):
            if len(stack) >= limits.max_json_depth:
                return _loc(stack), f"nested deeper than {limits.max_json_depth} levels", "too_deep"
            stack.append(_Frame(array=char == b"["))
        elif char in (b"]", b"}"):
            if stack:
                stack.pop()
        elif char in (b"N", b"I", b"-"):
            return _loc(stack), "NaN and Infinity are not numbers JSON can carry", "finite_number"
        elif top is not None and top.array:  # a comma in an array: one more item
            assert isinstance(top.label, int)
            top.label += 1
            if top.label >= limits.max_json_array:
                return (_loc(stack[:-1]), f"array longer than {limits.max_json_array} items", "too_long")
        elif top is not None:  # a comma in an object: a key comes next
            top.expect_key = True
    return None


def _plainly_within(body: bytes, limits: Limits) -> bool:
    """True when no violation is possible, judged by counting bytes (microseconds instead of a
    tokenising scan; what nearly every request body is): nesting is at most the number of
    opening brackets, an array's length at most the number of commas plus one, and NaN or
    Infinity needs those letters. Any of them inside strings only makes the count cautious."""
    return (body.count(b"[") + body.count(b"{") <= limits.max_json_depth
            and body.count(b",") < limits.max_json_array
            and b"NaN" not in body and b"Infinity" not in body)


def _loc(frames: list[_Frame]) -> list[str | int]:
    return ["body", *(frame.label for frame in frames)]


def _key(token: bytes) -> str:
    try:
        key = json.loads(token)
    except ValueError:
        key = token[1:-1].decode("utf-8", "replace")
    return str(key)[:_MAX_KEY_CHARS]


class RateLimiter:
    """A token bucket per principal: ``burst`` requests at once, ``per_second`` sustained.

    Buckets of principals not seen for a while are dropped (least recently used first) past
    ``max_principals``; a dropped bucket comes back full, which only errs toward allowing.
    """

    def __init__(self, per_second: float, burst: int, *, max_principals: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if per_second <= 0 or burst < 1:
            raise ValueError("per_second must be positive and burst at least 1")
        self.per_second = per_second
        self.burst = float(burst)
        self.max_principals = max_principals
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at

    def take(self, principal: str) -> float:
        """0 when the request may go ahead (a token is spent), else the seconds to wait."""
        now = self._clock()
        tokens, at = self._buckets.pop(principal, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.per_second)
        wait = 0.0 if tokens >= 1 else (1 - tokens) / self.per_second
        self._buckets[principal] = (tokens - 1 if wait == 0 else tokens, now)
        while len(self._buckets) > self.max_principals:
            self._buckets.popitem(last=False)
        return wait


def retry_after(wait: float) -> str:
    """A Retry-After value (whole seconds, at least 1) for a wait of ``wait`` seconds."""
    return str(max(1, math.ceil(wait)))
