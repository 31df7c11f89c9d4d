"""The four services served by uvicorn on free local ports (their real lifespans, against the
real PostgreSQL and Kafka), coordination with the pages' local sign-in on and its name look-ups
pointed at the served assessment; and headless Chromium from Debian's package, driven by
Playwright. Not a test module."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from services.assessment.app import create_app as create_assessment
from services.coordination.app import create_app as create_coordination
from services.coordination.settings import CoordinationSettings
from services.coordination.streams import FlagStreamSettings
from services.pharmacy.app import create_app as create_pharmacy
from services.therapy.app import create_app as create_therapy
from tests.support.services import make_settings, served

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("CARECOORD_ARTIFACTS", ROOT / ".run" / "artifacts"))
CHROMIUM = os.environ.get("CARECOORD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# The stream polls quickly here, so a change reaches the page within a test's patience.
FAST_STREAM = FlagStreamSettings(heartbeat_seconds=2, poll_seconds=0.1, max_seconds=300, retry_ms=200)


@contextlib.asynccontextmanager
async def platform(pg_url: str, kafka: str, schema: str, namespace: str) -> AsyncIterator[dict[str, str]]:
    """The base URL of each service."""
    # directory_miss_wait_seconds: a loaded machine can take more than the default second to bring
    # an enrolment to pharmacy and therapy (the pages enrol, then prescribe at once)
    common: dict[str, Any] = dict(pg_url=pg_url, kafka=kafka, schema=schema, namespace=namespace,
                                  directory_miss_wait_seconds=5)
    urls: dict[str, str] = {}
    async with contextlib.AsyncExitStack() as stack:
        for name, create in (("assessment", create_assessment), ("pharmacy", create_pharmacy),
                             ("therapy", create_therapy)):
            urls[name] = await stack.enter_async_context(served(create(make_settings(name, **common))))
        settings = CoordinationSettings(**{**make_settings("coordination", **common).model_dump(),
                                           "ui_local_sign_in": True, "ui_assessment_url": urls["assessment"]})
        app = create_coordination(settings)
        app.state.flag_stream = FAST_STREAM
        urls["coordination"] = await stack.enter_async_context(served(app))
        yield urls


def chromium_path() -> str:
    """Debian's Chromium (``make test`` installs it where missing); a clear failure without it."""
    found = shutil.which(CHROMIUM) or (CHROMIUM if os.access(CHROMIUM, os.X_OK) else None)
    if found is None:
        pytest.fail(f"headless Chromium not found at {CHROMIUM}: run the suite with `make test` (it installs "
                    "Debian's chromium package as root), or `apt-get install -y chromium`, or set "
                    "CARECOORD_CHROMIUM", pytrace=False)
    return found
