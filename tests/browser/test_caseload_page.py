"""The caseload page in headless Chromium against the four services and real Kafka and
PostgreSQL: signed in, the page lists the clinic's patients in active care from GET /v1/caseload
with their names, a sort link reorders them by the API's sort, the CSV link downloads every row,
and each patient shown is in the access log under the signed-in staff id."""

from __future__ import annotations

import csv
import io

import asyncpg
import httpx
from browser_cohort import STAFF, load_cohort
from browser_stack import CHROMIUM_ARGS, chromium_path, platform
from playwright.async_api import Page, async_playwright

from shared.db import plain_dsn
from tests.support.services import wait_until

TIMEOUT_MS = 30_000


async def caseload_of(base: str, **params: str) -> list[dict[str, object]]:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        resp = await client.get("/v1/caseload", params=params, headers=STAFF)
        assert resp.status_code == 200, resp.text
        return resp.json()["patients"]  # type: ignore[no-any-return]


async def shown(page: Page) -> list[str]:
    await page.wait_for_selector("body[data-loaded=true]")
    return await page.locator("#caseload-rows tr").evaluate_all("rows => rows.map(r => r.dataset.patient)")


async def test_the_caseload_page_lists_sorts_and_downloads_the_clinics_patients(
        pg_url: str, kafka_bootstrap: str, schema: str, namespace: str) -> None:
    executable = chromium_path()
    async with platform(pg_url, kafka_bootstrap, schema, namespace) as urls:
        base = urls["coordination"]
        cohort = await load_cohort(urls)
        patients = {cohort.alex, cohort.blake, cohort.casey}

        async def projected() -> bool:
            return {r["patient_id"] for r in await caseload_of(base)} == patients

        await wait_until(projected, timeout=120, interval=0.5)
        by_phq9 = [r["patient_id"] for r in await caseload_of(base, sort="phq9_latest")]
        by_due = [r["patient_id"] for r in await caseload_of(base)]

        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page(accept_downloads=True)
                page.set_default_timeout(TIMEOUT_MS)
                await page.goto(f"{base}/ui/worklist")
                await page.wait_for_url("**/ui/sign-in?next=*")
                await page.locator("#staff-id").fill("caseload-reader")
                await page.get_by_label("clinic-a").check()
                await page.get_by_role("button", name="Sign in").click()
                await page.wait_for_url("**/ui/worklist")
                await page.get_by_role("navigation", name="Pages").get_by_role("link", name="Caseload").click()
                await page.wait_for_url("**/ui/caseload")
                assert await shown(page) == by_due
                await page.get_by_role("link", name="Alex Example (synthetic)").wait_for()

                await page.get_by_role("navigation", name="Sort the caseload").get_by_role(
                    "link", name="Latest PHQ-9").click()
                await page.wait_for_url("**/ui/caseload?sort=phq9_latest")
                assert await shown(page) == by_phq9
                assert await page.locator('.sort-by [aria-current="true"]').inner_text() == "Latest PHQ-9"

                async with page.expect_download() as info:
                    await page.get_by_role("link", name="Download CSV").click()
                download = await info.value
                path = await download.path()
                table = list(csv.DictReader(io.StringIO(path.read_text())))
                assert [r["patient_id"] for r in table] == by_phq9
            finally:
                await browser.close()

        conn = await asyncpg.connect(plain_dsn(pg_url), server_settings={"search_path": f"{schema}_coordination"})
        try:
            logged = await conn.fetch("SELECT DISTINCT patient_id FROM access_log "
                                      "WHERE action = 'read caseload' AND staff_id = 'caseload-reader'")
        finally:
            await conn.close()
        assert {r["patient_id"] for r in logged} == patients
