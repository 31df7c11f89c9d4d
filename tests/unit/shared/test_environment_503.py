"""A request that fails because the database is away is answered 503 with Retry-After,
whatever type the driver raised it as; a statement's own failure stays a 500. Before, only
PostgresError, InterfaceError and OSError were looked at: an InternalClientError (a connection
cut mid-query while PostgreSQL shut down, under load in `make chaos`) was a 500."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from shared.service import _install_error_handlers
from tests.unit.shared.test_dberrors import ENVIRONMENTAL, MESSAGE_FAULTS, pg


def _app(exc: BaseException) -> FastAPI:
    app = FastAPI()
    _install_error_handlers(app)

    @app.get("/patients/p-1")
    async def read() -> None:
        raise exc
    return app


async def _get(exc: BaseException) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app(exc), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get("/patients/p-1")


@pytest.mark.parametrize("exc", ENVIRONMENTAL, ids=lambda e: type(e).__name__)
async def test_the_environment_s_failures_are_503_with_retry_after(exc: BaseException) -> None:
    resp = await _get(exc)
    assert resp.status_code == 503 and resp.headers["retry-after"] == "1"
    assert str(exc) not in resp.text or not str(exc)  # the driver's words may quote patient data


@pytest.mark.parametrize("exc", [e for e in MESSAGE_FAULTS if isinstance(e, pg.PostgresError)],
                         ids=lambda e: type(e).__name__)
async def test_a_statement_s_own_failure_stays_a_500(exc: BaseException) -> None:
    assert (await _get(exc)).status_code == 500
