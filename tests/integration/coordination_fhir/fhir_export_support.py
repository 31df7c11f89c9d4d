"""A Bulk Data export driven as a client does: kick off, poll, download. Not a test module."""

from __future__ import annotations

import json
from typing import Any

from tests.integration.coordination.coordination_support import Stack
from tests.support.services import token, wait_until

AUDITOR = token("auditor", clinics=("clinic-a",), sub="auditor-1")


async def bulk_export(stack: Stack, query: str) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """Kick off, poll until done, download every file."""
    c = stack.coordination
    kick = await c.get(f"/v1/fhir/$export{query}", headers=AUDITOR)
    assert kick.status_code == 202, kick.text
    status_url = kick.headers["content-location"]
    assert status_url.startswith("http://test/v1/fhir/export-jobs/")
    polls: list[int] = []

    async def done() -> Any:
        resp = await c.get(status_url, headers=AUDITOR)
        polls.append(resp.status_code)
        assert resp.status_code in (200, 202), resp.text
        if resp.status_code == 202:
            assert resp.headers["x-progress"]
        return resp.json() if resp.status_code == 200 else None

    manifest = await wait_until(done, timeout=30)
    assert (await c.get(status_url, headers=token("auditor", clinics=("clinic-a",), sub="auditor-2"))
            ).status_code == 404  # another person's job
    files = {}
    for out in manifest["output"]:
        resp = await c.get(out["url"], headers=AUDITOR)
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("application/fhir+ndjson")
        files[out["type"]] = [json.loads(line) for line in resp.text.splitlines()]
        assert all(r["resourceType"] == out["type"] for r in files[out["type"]])
    return manifest, files
