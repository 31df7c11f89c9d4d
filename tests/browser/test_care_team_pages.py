"""A clinician's way through the pages in headless Chromium, against the four services and real
Kafka and PostgreSQL: sign in, the worklist, a patient's course (lanes, score chart, flags),
acknowledging a flag, and a new flag arriving live after a command sent over HTTP. Screenshots
go to ``.run/artifacts/`` (README's two come from here)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
from browser_cohort import STAFF, Cohort, load_cohort
from browser_stack import ARTIFACTS, CHROMIUM_ARGS, chromium_path, platform
from playwright.async_api import Browser, Page, Request, async_playwright

from tests.support.services import wait_until

SEVERITY_RANK = {"urgent": 0, "high": 1, "warning": 2, "info": 3}
SAFETY_PHQ9 = [1, 1, 1, 1, 1, 0, 0, 0, 1]  # item 9 > 0: the safety rule raises an urgent flag
TIMEOUT_MS = 30_000


async def flags_of(base: str, **params: Any) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        resp = await client.get("/v1/flags", params={"limit": 200, **params}, headers=STAFF)
        assert resp.status_code == 200, resp.text
        return resp.json()["flags"]  # type: ignore[no-any-return]


async def wait_for_cohort_flags(base: str, cohort: Cohort) -> None:
    """The projection has caught up: each patient's known flag is on the worklist."""
    wanted = {(cohort.alex, "dangerous_combination"), (cohort.blake, "polypharmacy"),
              (cohort.casey, "disengagement")}

    async def present() -> bool:
        return wanted <= {(f["patient_id"], f["rule_id"]) for f in await flags_of(base)}

    await wait_until(present, timeout=120, interval=0.5)


async def shot(page: Page, name: str, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / name), full_page=full_page)


async def sign_in(page: Page, base: str) -> None:
    await page.goto(f"{base}/ui/worklist")
    await page.wait_for_url("**/ui/sign-in?next=*")  # no token yet: sent to sign in, and back after
    await page.get_by_label("assessor").check()  # coordinator, prescriber and therapist are preset
    await page.get_by_label("clinic-a").check()
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/ui/worklist")


async def check_worklist(page: Page) -> None:
    await page.wait_for_selector("body[data-loaded=true]")
    rows = page.locator("#worklist-rows tr")
    severities = await rows.evaluate_all("rows => rows.map(r => r.dataset.severity)")
    assert len(severities) >= 3
    ranks = [SEVERITY_RANK[s] for s in severities]
    assert ranks == sorted(ranks), f"most severe first: {severities}"
    # Names come from the assessment service, for staff with that right.
    for name in ("Alex Example (synthetic)", "Blake Sample (synthetic)", "Casey Test (synthetic)"):
        await page.get_by_role("link", name=name).first.wait_for()
    # Every row says its severity in a word beside the shape, not by colour alone.
    words = await page.locator("#worklist-rows .severity").all_inner_texts()
    assert all(w.strip() in {"Urgent", "High", "Warning", "Info"} for w in words), words


async def check_course(page: Page) -> None:
    chart = page.locator("#chart svg")
    await chart.wait_for()
    medication_lanes = page.locator(".lane-medication")
    assert await medication_lanes.count() == 3  # sertraline, oxycodone, diazepam
    sertraline = page.locator(".lane-medication", has=page.locator(".dose-step")).first
    assert await sertraline.locator(".dose-step").count() == 2  # 50 mg/day, then 100 mg/day
    assert await page.locator(".adverse-mark").count() == 1
    sessions = {kind: await page.locator(f".session-mark[data-kind={kind}]").count()
                for kind in ("completed", "missed", "cancelled_patient", "cancelled_clinic", "scheduled")}
    assert sessions == {"completed": 12, "missed": 2, "cancelled_patient": 1, "cancelled_clinic": 1,
                        "scheduled": 1}, sessions
    assert await page.locator(".therapy-segment").count() == 2  # CBT at step 2; ACT at step 3 (changed together)
    phq9 = page.locator('.score-chart[data-instrument="PHQ-9"]')
    assert await phq9.locator(".score-point").count() == 6
    thresholds = await phq9.locator(".threshold").evaluate_all("ls => ls.map(l => l.dataset.threshold)")
    assert thresholds == ["5", "10", "15", "20"]
    assert await phq9.locator(".score-line").get_attribute("d")
    assert await page.locator(".score-chart").count() == 3  # PHQ-9, GAD-7, PHQ-15
    assert await page.locator('.flag-mark[data-rule="dangerous_combination"][data-status="open"]').count() >= 1
    assert await page.locator('.flag-mark[data-rule="unreviewed_adverse_effect"][data-status="resolved"]').count() == 1
    assert await page.locator(".life-mark").count() == 1
    assert await page.locator(".team-mark").count() == 3  # escalation, review, case conference
    legend = await page.locator("#legend").inner_text()
    for label in ("Session attended", "Session missed", "Cancelled by patient", "Urgent", "Escalation decided"):
        assert label in legend


async def check_interaction(page: Page) -> None:
    await page.locator(".session-mark[data-kind=missed]").first.hover()
    tooltip = page.locator("#tooltip")
    await tooltip.wait_for(state="visible")
    assert "missed" in (await tooltip.inner_text()).lower()
    # Keyboard: the chart is one tab stop; arrows move between marks, Enter shows the event.
    first = page.locator('.mark[tabindex="0"]')
    await first.focus()
    await page.keyboard.press("ArrowDown")
    await page.keyboard.press("ArrowRight")
    await page.keyboard.press("Enter")
    detail = await page.locator("#event-detail").inner_text()
    assert "When" in detail or "Rule" in detail, detail
    await page.locator('.flag-mark[data-rule="dangerous_combination"]').first.click()
    assert "Dangerous combination" in await page.locator("#event-detail").inner_text()


async def acknowledge_flag(page: Page, base: str, alex: str) -> None:
    item = page.locator('#open-flags li[data-rule="dangerous_combination"][data-status="open"]').first
    flag_id = await item.get_attribute("data-flag-id")
    await item.get_by_role("button", name="Acknowledge Dangerous combination").click()
    await page.get_by_label("Reason").select_option(label="Action planned")
    await page.get_by_role("button", name="Acknowledge", exact=True).click()
    await page.locator(f'#open-flags li[data-flag-id="{flag_id}"][data-status="acknowledged"]').wait_for()
    stored = {f["flag_id"]: f for f in await flags_of(base, status="acknowledged")}
    assert stored[flag_id]["ack_reason"] == "action_planned"


async def new_flag_arrives_live(page: Page, urls: dict[str, str], alex: str) -> None:
    await page.wait_for_selector("body[data-live=connected]", timeout=TIMEOUT_MS)
    marks_before = await page.locator(".score-point").count()
    async with httpx.AsyncClient(base_url=urls["assessment"], timeout=10) as client:
        resp = await client.post(f"/v1/patients/{alex}/assessments", headers=STAFF, json={
            "instrument": "PHQ-9", "item_scores": SAFETY_PHQ9, "administered_at": datetime.now(UTC).isoformat()})
        assert resp.status_code == 201, resp.text
    # No reload: the page follows the flag stream and draws the change.
    await page.locator('.flag-mark[data-rule="safety"]').wait_for(timeout=TIMEOUT_MS)
    await page.locator('#open-flags li[data-rule="safety"]').wait_for()
    assert await page.locator(".score-point").count() == marks_before + 1
    assert await page.locator(".safety-point").count() == 1


async def as_of_is_sent(page: Page, base: str, alex: str, before_live: datetime) -> None:
    sent: list[str] = []

    def remember(request: Request) -> None:
        if "/timeline" in request.url:
            sent.append(request.url)

    page.on("request", remember)
    await page.goto(f"{base}/ui/patients/{alex}?as_of={before_live.isoformat().replace('+00:00', 'Z')}")
    await page.wait_for_selector("body[data-loaded=true]")
    await page.locator("#as-of-banner").wait_for()
    assert sent and all("as_of=" in url for url in sent), sent
    assert await page.locator(".safety-point").count() == 0  # recorded after that moment
    page.remove_listener("request", remember)


async def journey(browser: Browser, urls: dict[str, str], cohort: Cohort) -> None:
    base = urls["coordination"]
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda msg: problems.append(f"console: {msg.text}") if msg.type == "error" else None)

    await sign_in(page, base)
    await check_worklist(page)
    await shot(page, "worklist.png", full_page=False)

    await page.get_by_role("link", name="Alex Example (synthetic)").first.click()
    await page.wait_for_url(f"**/ui/patients/{cohort.alex}")
    await page.wait_for_selector("body[data-loaded=true]")
    assert await page.locator("#patient-name").inner_text() == "Alex Example (synthetic)"
    await check_course(page)
    await check_interaction(page)
    await shot(page, "patient.png")

    await acknowledge_flag(page, base, cohort.alex)
    before_live = datetime.now(UTC)
    await asyncio.sleep(0.01)
    await new_flag_arrives_live(page, urls, cohort.alex)
    await shot(page, "patient-live.png")

    await page.set_viewport_size({"width": 820, "height": 1180})  # a tablet, upright
    await page.wait_for_timeout(400)  # the chart redraws for the new width
    assert await page.locator(".flag-mark[data-rule=safety]").count() == 1
    await shot(page, "patient-tablet.png")
    await page.set_viewport_size({"width": 1280, "height": 800})

    await as_of_is_sent(page, base, cohort.alex, before_live)

    await page.goto(f"{base}/ui/worklist")
    await page.wait_for_selector("body[data-loaded=true]")
    first = page.locator("#worklist-rows tr").first
    assert await first.get_attribute("data-rule") == "safety"  # urgent: at the top
    await shot(page, "worklist-after.png", full_page=False)
    assert not problems, problems


async def test_a_clinician_signs_in_reviews_a_course_and_sees_a_flag_arrive(
        pg_url: str, kafka_bootstrap: str, schema: str, namespace: str) -> None:
    executable = chromium_path()
    async with platform(pg_url, kafka_bootstrap, schema, namespace) as urls:
        cohort = await load_cohort(urls)
        await wait_for_cohort_flags(urls["coordination"], cohort)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            try:
                await journey(browser, urls, cohort)
            finally:
                await browser.close()
