"""Services of the therapy tests, started in-process on demand against the real stack."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from fastapi import FastAPI

from services.assessment.app import create_app as create_assessment
from services.pharmacy.app import create_app as create_pharmacy
from services.therapy.app import create_app as create_therapy
from shared.settings import ServiceSettings
from tests.integration.therapy.support import Stack
from tests.support.services import make_settings, running

FACTORIES: dict[str, Callable[[ServiceSettings], FastAPI]] = {
    "assessment": create_assessment, "therapy": create_therapy, "pharmacy": create_pharmacy}


@pytest.fixture
async def serve(pg_url: str, kafka_bootstrap: str, schema: str,
                namespace: str) -> AsyncIterator[Callable[..., Awaitable[Stack]]]:
    """``await serve("assessment", "therapy")``: those services, stopped after the test."""
    async with contextlib.AsyncExitStack() as exits:
        stack = Stack()

        async def start(*names: str) -> Stack:
            for name in names:
                settings = make_settings(name, pg_url=pg_url, kafka=kafka_bootstrap, schema=schema,
                                         namespace=namespace)
                app, client = await exits.enter_async_context(running(FACTORIES[name], settings))
                stack.client[name], stack.app[name], stack.settings[name] = client, app, settings
            return stack

        yield start
