"""The demo cohort's plan, before anything is sent (no services needed): read by coordination's
own rules engine, every archetype raises its rule and nothing else and every control raises
nothing, for several seeds and sizes; times lie in the past; keys and bodies are deterministic;
and the loader is a client of the HTTP APIs only."""

from __future__ import annotations

import ast
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from demo_rules import chart_flags, passing_flags

from shared.demo.chart import At
from shared.demo.cohort import CONTROLS, MIN_PATIENTS, RULES, archetypes, build
from shared.demo.loader import fresh_anchor

NOW = datetime.now(UTC)
ANCHOR = fresh_anchor(NOW)


@pytest.mark.parametrize(("patients", "clinics", "seed"), [(36, 3, 1), (36, 3, 2), (12, 2, 5), (10, 1, 9), (25, 4, 3)])
def test_each_archetype_raises_its_rule_only_and_controls_nothing(patients: int, clinics: int, seed: int) -> None:
    cohort = build(patients, clinics, seed)
    for member, chart in zip(cohort.members, cohort.charts, strict=True):
        raised = Counter(flag.rule_id for flag in chart_flags(chart, ANCHOR, NOW))
        assert set(raised) == ({member.rule} if member.rule else set()), (member, dict(raised))


def test_some_flags_stay_open_and_some_were_resolved() -> None:
    """The worklist has open flags of every rule; the patient pages show resolved ones too."""
    cohort = build(36, 3, 1)
    open_rules, resolved_rules = set(), set()
    for chart in cohort.charts:
        for flag in chart_flags(chart, ANCHOR, NOW):
            (resolved_rules if flag.resolved_at else open_rules).add(flag.rule_id)
    assert open_rules == set(RULES)
    assert resolved_rules == set(RULES)


def test_few_flags_are_raised_by_a_prefix_and_withdrawn() -> None:
    """Sent in the chart's order, each step a batch of its own (the worst case), what a partial
    history raises and the whole one does not: an episode's start before its sessions, a
    baseline score before the one eight weeks later."""
    cohort = build(12, 2, 1)
    passing = sum(len(passing_flags(chart, ANCHOR, NOW)) for chart in cohort.charts)
    assert passing <= 4 * len(cohort.charts)


def test_every_time_lies_in_the_past_and_keys_are_unique() -> None:
    cohort = build(36, 3, 1)
    for chart in cohort.charts:
        keys = [step.key for step in chart.steps]
        assert len(keys) == len(set(keys)), chart.number
        for step in chart.steps[1:]:
            times = [datetime.fromisoformat(v) for v in step.rendered(ANCHOR).values() if isinstance(v, str)
                     and v[:2] == "20" and "T" in v]
            assert times, step
            assert all(NOW - timedelta(days=200) < t < NOW for t in times), step
        assert len(f"{cohort.tag}:p{chart.number:03d}:{max(keys, key=len)}") <= 200


def test_the_cohort_is_a_function_of_its_seed_and_size() -> None:
    a, b, c = build(12, 2, 5), build(12, 2, 5), build(12, 2, 6)
    assert [s.rendered(ANCHOR) for ch in a.charts for s in ch.steps] == \
        [s.rendered(ANCHOR) for ch in b.charts for s in ch.steps]
    assert [m.archetype for m in a.members] != [m.archetype for m in c.members]
    assert a.tag != build(13, 2, 5).tag


def test_every_rule_and_a_control_from_ten_patients_and_three_decks_of_each_in_36() -> None:
    assert set(RULES) < set(archetypes(MIN_PATIENTS, 1)) and set(archetypes(MIN_PATIENTS, 1)) & set(CONTROLS)
    counts = Counter(archetypes(36, 1))
    assert all(counts[rule] == 3 for rule in RULES) and sum(counts[c] for c in CONTROLS) == 9
    cohort = build(36, 3, 1)
    assert {m.clinic for m in cohort.members} == {"clinic-a", "clinic-b", "clinic-c"}
    assert all(m.display_name.startswith("Demo Patient ") and m.display_name.endswith("(synthetic)")
               for m in cohort.members)


def test_an_at_renders_minutes_from_the_anchor() -> None:
    assert At(-1440 + 90).render(ANCHOR) == (ANCHOR - timedelta(days=1) + timedelta(minutes=90)).isoformat()


def test_the_loader_imports_no_service() -> None:
    """A client of the public HTTP APIs: services are not imported by clients."""
    package = Path(__file__).resolve().parents[3] / "shared" / "demo"
    for source in package.glob("*.py"):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        modules = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        modules += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        assert not [m for m in modules if m.split(".")[0] == "services"], source.name
