"""``carecoord demo load`` end to end: a small cohort (12 patients, 2 clinics) loaded through the
command line into the four services served over HTTP on the real PostgreSQL and Kafka. Each
service's own GET endpoints hold exactly the events the cohort's plan names; a second run
records nothing, nor does a third without the marker file; every archetype's patients exist;
and, where coordination serves flags, each archetype raised its rule's flag and the controls
none."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from demo_stack import demo_stack, isolated

from shared.auth import issue_token
from shared.cli import main
from shared.demo.cohort import RULES, Cohort, build
from tests.support.services import TEST_SECRET

PATIENTS, CLINICS, SEED = 12, 2, 5
PER_SERVICE = {"assessment": ("AssessmentRecorded", "LifeCircumstanceChanged"),
               "pharmacy": ("MedicationStarted", "DoseAdjusted", "MedicationDiscontinued", "AdverseEffectReported"),
               "therapy": ("TherapyEpisodeStarted", "SessionScheduled", "SessionCompleted", "SessionMissed",
                           "SessionCancelled", "ModalityChanged", "CareStepChanged", "TherapyEpisodeEnded"),
               "coordination": ("EscalationDecided", "CarePlanReviewed", "CaseConferenceHeld")}


@dataclass
class Run:
    urls: dict[str, str]
    cohort: Cohort
    marker: dict[str, Any]
    outputs: list[tuple[int, str]]  # (exit code, stdout) of each run: first, again, again without the marker
    counts: list[dict[int, Counter[str]]]  # events by chart number, read back after each run

    @property
    def patients(self) -> dict[int, str]:
        return {m["number"]: m["patient_id"] for ms in self.marker["manifest"].values() for m in ms}


def reader() -> dict[str, str]:
    token = issue_token(TEST_SECRET, sub="demo-test", roles=["coordinator"], clinics=["clinic-a", "clinic-b"])
    return {"Authorization": f"Bearer {token}"}


def cli(args: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(args)
    return code, out.getvalue()


async def read_back(urls: dict[str, str], patient_id: str) -> Counter[str]:
    """The patient's events by name, as each service's own GET endpoints show them."""
    found: Counter[str] = Counter()
    h = reader()
    async with contextlib.AsyncExitStack() as stack:
        c = {n: await stack.enter_async_context(httpx.AsyncClient(base_url=u, headers=h)) for n, u in urls.items()}
        base = f"/v1/patients/{patient_id}"
        if (await c["assessment"].get(base)).json()["display_name"].endswith("(synthetic)"):
            found["PatientEnrolled"] += 1
        found["AssessmentRecorded"] += len((await c["assessment"].get(f"{base}/assessments")).json())
        found["LifeCircumstanceChanged"] += len((await c["assessment"].get(f"{base}/life-events")).json())
        for course in (await c["pharmacy"].get(f"{base}/medications")).json():
            detail = (await c["pharmacy"].get(f"{base}/medications/{course['medication_id']}")).json()
            found.update(e["event_type"] for e in detail["history"])
        for episode in (await c["therapy"].get(f"{base}/episodes")).json():
            detail = (await c["therapy"].get(f"{base}/episodes/{episode['episode_id']}")).json()
            found.update(e["event_type"] for e in detail["history"])
        timeline = (await c["coordination"].get(f"{base}/timeline", params={"services": "coordination",
                                                                             "limit": 1000})).json()
        found.update(e["type"] for e in timeline["entries"])
    return found


async def read_all(run_urls: dict[str, str], patients: dict[int, str]) -> dict[int, Counter[str]]:
    return {n: await read_back(run_urls, pid) for n, pid in sorted(patients.items())}


@pytest.fixture(scope="module")
async def run(pg_url: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Run]:
    tmp: Path = tmp_path_factory.mktemp("demo")
    (tmp / "secret").write_text(TEST_SECRET)
    marker = tmp / "demo-loaded"
    async with isolated(pg_url, kafka_bootstrap) as (schema, namespace), \
            demo_stack(pg_url, kafka_bootstrap, schema, namespace) as urls:
        args = ["demo", "load", "--patients", str(PATIENTS), "--clinics", str(CLINICS), "--seed", str(SEED),
                "--marker", str(marker), "--secret-file", str(tmp / "secret"), "--wait", "120",
                *(f"--url={name}={url}" for name, url in urls.items())]
        outputs, counts = [], []
        for n in range(3):
            if n == 2:  # without the marker: the times' anchor is read back from what the first run recorded
                marker.unlink()
            outputs.append(await asyncio.to_thread(cli, args))
            data = json.loads(marker.read_text())
            counts.append(await read_all(urls, {m["number"]: m["patient_id"]
                                                for ms in data["manifest"].values() for m in ms}))
        yield Run(urls, build(PATIENTS, CLINICS, SEED), data, outputs, counts)


async def test_every_patient_is_in_each_service_with_exactly_the_planned_events(run: Run) -> None:
    assert run.outputs[0][0] == 0, run.outputs[0][1]
    assert "pages: " in run.outputs[0][1] and "/ui" in run.outputs[0][1]
    assert len(run.patients) == PATIENTS and all(run.patients.values())
    planned = {chart.number: Counter(s.event for s in chart.steps) for chart in run.cohort.charts}
    assert run.counts[0] == planned
    for service, events in PER_SERVICE.items():  # each service holds its own share, nothing else
        assert sum(c[e] for c in run.counts[0].values() for e in events) > 0, service


async def test_a_second_run_records_nothing_even_without_the_marker(run: Run) -> None:
    total = sum(len(c.steps) for c in run.cohort.charts)
    for code, out in run.outputs[1:]:
        assert code == 0, out
        assert f"0 recorded now, {total} already there" in out
    assert run.counts[1] == run.counts[0] and run.counts[2] == run.counts[0]


async def test_every_archetype_has_its_patients(run: Run) -> None:
    manifest = run.marker["manifest"]
    assert set(manifest) == set(run.cohort.manifest())
    assert set(RULES) <= set(manifest)
    assert any(m["rule"] is None for ms in manifest.values() for m in ms)  # a control
    for name, members in manifest.items():
        for m in members:
            assert m["patient_id"], (name, m)
            assert m["rule"] == (name if name in RULES else None)


async def test_each_archetype_raised_its_rule_and_the_controls_nothing(run: Run) -> None:
    """Needs coordination's flags endpoints; skipped only while they answer 404."""
    async with httpx.AsyncClient(base_url=run.urls["coordination"], headers=reader()) as client:
        if (await client.get("/v1/flags")).status_code == 404:
            pytest.skip("coordination answers 404 on GET /v1/flags: its flags endpoints have not landed")
        for name, members in run.marker["manifest"].items():
            for m in members:
                resp = await client.get(f"/v1/patients/{m['patient_id']}/flags")
                assert resp.status_code == 200, resp.text
                # A flag a prefix of the backdated history raised and a later event withdrew is on
                # record (resolved, withdrawn) but is not the patient's: left out.
                rules = {f["rule_id"] for f in resp.json() if not f["withdrawn"]}
                assert rules == ({m["rule"]} if m["rule"] else set()), (name, m["variant"], rules)
