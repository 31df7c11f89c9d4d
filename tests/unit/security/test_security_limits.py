"""Request limits before authentication (413, 431, 422) and the per-principal rate limit (429)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI

from shared.auth import AuthConfig, Authenticator, Principal, issue_token
from shared.auth.dependencies import current_principal
from shared.limits import Limits, RateLimiter, RequestLimits, json_problem

SECRET = "security-test-secret-of-forty-bytes-0000"
KIB = 1024


class Seen:
    calls = 0


def _app(limiter: RateLimiter | None = None, limits: Limits | None = None) -> FastAPI:
    app = FastAPI()
    app.state.authenticator = Authenticator(AuthConfig(algorithm="HS256", hs256_secret=SECRET), limiter)

    @app.post("/things")
    async def things(body: dict[str, Any], principal: Annotated[Principal, Depends(current_principal)]
                     ) -> dict[str, int]:
        Seen.calls += 1
        return {"keys": len(body)}

    @app.get("/me")
    async def me(principal: Annotated[Principal, Depends(current_principal)]) -> dict[str, str]:
        return {"staff_id": principal.staff_id}

    app.add_middleware(RequestLimits, limits=limits or Limits())
    return app


def _bearer(sub: str = "staff-1") -> dict[str, str]:
    return {"Authorization": "Bearer " + issue_token(SECRET, sub=sub, roles=["prescriber"], clinics=["c"]),
            "Content-Type": "application/json"}


@pytest.fixture()
async def client() -> AsyncIterator[httpx.AsyncClient]:
    Seen.calls = 0
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app()), base_url="http://test") as http:
        yield http


async def test_a_body_above_the_limit_is_413_before_authentication(client: httpx.AsyncClient) -> None:
    response = await client.post("/things", content=b"x" * (64 * KIB + 1),
                                 headers={"Content-Type": "application/json"})
    assert response.status_code == 413, response.text
    assert "65536" in response.json()["detail"]
    assert Seen.calls == 0


async def test_a_body_at_the_limit_reaches_authentication(client: httpx.AsyncClient) -> None:
    body = b'{"a": "' + b"x" * (64 * KIB - 10) + b'"}'
    assert len(body) <= 64 * KIB
    assert (await client.post("/things", content=body)).status_code == 401


async def test_a_declared_length_above_the_limit_is_refused_without_reading_the_body() -> None:
    app = _app()
    read: list[int] = []

    async def receive() -> dict[str, Any]:
        read.append(1)
        return {"type": "http.request", "body": b"x" * KIB, "more_body": True}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/things", "raw_path": b"/things", "query_string": b"",
             "headers": [(b"content-length", str(60 * KIB * KIB).encode()), (b"content-type", b"application/json")],
             "http_version": "1.1", "scheme": "http", "server": ("test", 80), "client": ("127.0.0.1", 1),
             "root_path": "", "app": app}
    await app(scope, receive, send)
    assert sent[0]["status"] == 413
    assert read == [], "a 60 MB upload must not be read before it is refused"


async def test_a_chunked_body_is_cut_off_as_soon_as_it_passes_the_limit() -> None:
    app = _app()
    chunks_read = 0

    async def receive() -> dict[str, Any]:
        nonlocal chunks_read
        chunks_read += 1
        return {"type": "http.request", "body": b"x" * KIB, "more_body": chunks_read < 60 * KIB}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/things", "raw_path": b"/things", "query_string": b"",
             "headers": [(b"transfer-encoding", b"chunked"), (b"content-type", b"application/json")],
             "http_version": "1.1", "scheme": "http", "server": ("test", 80), "client": ("127.0.0.1", 1),
             "root_path": "", "app": app}
    await app(scope, receive, send)
    assert sent[0]["status"] == 413
    assert chunks_read == 65, "reading stops at the first chunk past 64 KiB"


async def test_a_chunked_upload_over_http_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b"x" * KIB

    response = await client.post("/things", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert Seen.calls == 0


async def test_headers_above_the_limit_are_431(client: httpx.AsyncClient) -> None:
    response = await client.get("/me", headers={"X-Padding": "x" * (16 * KIB)})
    assert response.status_code == 431
    response = await client.get("/me", headers={"Authorization": "Bearer " + "a" * (8 * 1024 * KIB)})
    assert response.status_code == 431


async def test_deep_nesting_is_422_naming_the_field(client: httpx.AsyncClient) -> None:
    body = b'{"plan": {"goals": ' + b"[" * 40 + b"]" * 40 + b"}}"
    response = await client.post("/things", content=body, headers=_bearer())
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"][:4] == ["body", "plan", "goals", 0]
    assert error["type"] == "too_deep"
    assert Seen.calls == 0


async def test_a_long_array_is_422_naming_the_field(client: httpx.AsyncClient) -> None:
    body = b'{"item_scores": [' + b",".join([b"1"] * 1001) + b"]}"
    response = await client.post("/things", content=body, headers=_bearer())
    assert response.status_code == 422
    assert response.json()["detail"] == [{"loc": ["body", "item_scores"], "msg": "array longer than 1000 items",
                                          "type": "too_long"}]
    ok = b'{"item_scores": [' + b",".join([b"1"] * 1000) + b"]}"
    assert (await client.post("/things", content=ok, headers=_bearer())).status_code == 200


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
async def test_nan_and_infinity_are_422_before_parsing(client: httpx.AsyncClient, literal: bytes) -> None:
    response = await client.post("/things", content=b'{"dose": ' + literal + b', "unit": "mg"}', headers=_bearer())
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "dose"]


@pytest.mark.parametrize("body", [b"\x1a\x0c\r\xb7", b'{"note": "\xff\xfe"}'])
async def test_a_body_that_is_not_utf8_is_422_not_400(client: httpx.AsyncClient, body: bytes) -> None:
    # The JSON parser fails on the bytes before it sees any JSON; FastAPI answered 400 then.
    response = await client.post("/things", content=body, headers=_bearer())
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == [{"loc": ["body"], "msg": "JSON text must be UTF-8 encoded",
                                          "type": "json_invalid"}]
    assert Seen.calls == 0


def test_brackets_and_nan_inside_strings_do_not_count() -> None:
    text = b'{"note": "[[[[ NaN Infinity \\" ]]]] ,,,,", "ok": [1, 2]}'
    assert json_problem(text, Limits(max_json_depth=2, max_json_array=2)) is None


def test_a_large_flat_body_within_the_limits_passes_the_scan() -> None:
    # (its cost is not timed here: timings belong to benchmarks, not to tests on shared machines)
    body = b'{"a": [' + b",".join([b'"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"'] * 999) + b"]}"
    assert json_problem(body, Limits()) is None
    assert json_problem(body, Limits(max_json_array=998)) is not None


@pytest.fixture()
def clock() -> Iterator[list[float]]:
    yield [1000.0]


def test_the_token_bucket_allows_the_burst_then_the_rate(clock: list[float]) -> None:
    limiter = RateLimiter(per_second=2, burst=3, clock=lambda: clock[0])
    assert [limiter.take("a") for _ in range(3)] == [0, 0, 0]
    wait = limiter.take("a")
    assert wait == pytest.approx(0.5)
    assert limiter.take("b") == 0, "another principal has a bucket of its own"
    clock[0] += 0.5
    assert limiter.take("a") == 0
    assert limiter.take("a") > 0


async def test_a_principal_above_its_rate_gets_429_with_retry_after() -> None:
    app = _app(limiter=RateLimiter(per_second=0.5, burst=2))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        statuses = [(await http.get("/me", headers=_bearer("busy"))).status_code for _ in range(2)]
        refused = await http.get("/me", headers=_bearer("busy"))
        other = await http.get("/me", headers=_bearer("calm"))
    assert statuses == [200, 200]
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "2"
    assert other.status_code == 200


async def test_a_streaming_route_still_sees_the_disconnect() -> None:
    """The replayed body is followed by the real channel, so a disconnect reaches the app."""
    messages = [{"type": "http.request", "body": b'{"a": 1}', "more_body": False}, {"type": "http.disconnect"}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    seen: list[dict[str, Any]] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(await receive())
        seen.append(await receive())

    middleware = RequestLimits(inner)
    scope = {"type": "http", "headers": [(b"content-length", b"8"), (b"content-type", b"application/json")]}
    await middleware(scope, receive, lambda message: asyncio.sleep(0))
    assert [m["type"] for m in seen] == ["http.request", "http.disconnect"]
