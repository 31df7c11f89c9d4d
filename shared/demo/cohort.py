"""The cohort: which patient follows which archetype, and each patient's chart.

Assignment is a pure function of (patients, clinics, seed): decks of twelve — the nine rule
archetypes and three controls — shuffled by the seed, clinics dealt round-robin. Each rule's
occurrences alternate between the ``open`` and ``resolved`` variants, so the worklist shows
open flags and the patient pages show resolved ones too.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date

from .chart import Chart
from .controls import CONTROL_STORIES
from .rules import RULE_STORIES
from .story import Story

RULES: tuple[str, ...] = tuple(RULE_STORIES)
CONTROLS: tuple[str, ...] = tuple(CONTROL_STORIES)
CONTROLS_PER_DECK = 3
COMBINATION_KINDS = ("opioid_benzodiazepine", "opioid_serotonergic", "duplicate_qt")
MIN_PATIENTS = len(RULES) + 1  # every rule and one control


def clinic_ids(count: int) -> list[str]:
    return [f"clinic-{chr(ord('a') + i)}" for i in range(count)]


def archetypes(patients: int, seed: int) -> list[str]:
    """One archetype per patient. A cohort smaller than a deck keeps one control and as many
    rules as fit, in the order of DOMAIN.md."""
    deck_size = len(RULES) + CONTROLS_PER_DECK
    decks, rest = divmod(patients, deck_size)
    controls = iter(CONTROLS[i % len(CONTROLS)] for i in range(patients))
    names: list[str] = []
    for _ in range(decks):
        names += [*RULES, *(next(controls) for _ in range(CONTROLS_PER_DECK))]
    if rest:
        partial = [next(controls), *RULES, *(next(controls) for _ in range(CONTROLS_PER_DECK - 1))]
        names += partial[:rest]
    random.Random(f"demo-cohort:{seed}").shuffle(names)
    return names


def variants(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        k = seen[name] = seen.get(name, -1) + 1
        if name == "dangerous_combination":
            out.append(f"{COMBINATION_KINDS[k % 3]}/{('open', 'resolved')[k % 2]}")
        elif name == "escalated_in_time":
            out.append(("dose", "step_up")[k % 2])
        elif name in RULE_STORIES:
            out.append(("open", "resolved")[k % 2])
        else:
            out.append("")
    return out


@dataclass(frozen=True)
class Member:
    number: int  # from 1, as in the display name
    archetype: str
    variant: str
    clinic: str
    display_name: str

    @property
    def rule(self) -> str | None:
        """The rule this patient must raise; None for a control, which must raise none."""
        return self.archetype if self.archetype in RULE_STORIES else None


@dataclass(frozen=True)
class Cohort:
    seed: int
    clinics: tuple[str, ...]
    members: tuple[Member, ...]
    charts: tuple[Chart, ...]

    @property
    def tag(self) -> str:
        """Part of every idempotency key: another seed or size is another cohort."""
        return f"demo:s{self.seed}:n{len(self.members)}:k{len(self.clinics)}"

    def manifest(self) -> dict[str, list[Member]]:
        out: dict[str, list[Member]] = {name: [] for name in (*RULES, *CONTROLS)}
        for m in self.members:
            out[m.archetype].append(m)
        return {k: v for k, v in out.items() if v}


def build(patients: int, clinics: int, seed: int) -> Cohort:
    names = archetypes(patients, seed)
    clinic_list = clinic_ids(clinics)
    members, charts = [], []
    for i, (name, variant) in enumerate(zip(names, variants(names), strict=True)):
        rng = random.Random(f"demo-patient:{seed}:{i}")
        number, clinic = i + 1, clinic_list[i % clinics]
        display = f"Demo Patient {number:02d} (synthetic)"
        birth = date(rng.randint(1952, 2002), rng.randint(1, 12), rng.randint(1, 28))
        prefs = {"language": "en", "prefers_non_pharmacological_first": rng.random() < 0.25}
        chart = Chart(number, clinic, display, birth.isoformat(), f"DEMO-{seed}-{number:03d}", prefs)
        story = Story(chart, rng, t0=-182 + rng.randint(-5, 5), variant=variant)
        (RULE_STORIES.get(name) or CONTROL_STORIES[name])(story)
        story.finish()
        members.append(Member(number, name, variant, clinic, display))
        charts.append(chart)
    return Cohort(seed, tuple(clinic_list), tuple(members), tuple(charts))
