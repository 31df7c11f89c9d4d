"""What the synthetic cohort is made of: drugs, their usual regimens, and the instruments.

Drug codes are RxNorm ingredient RXCUIs as the pharmacy service's formulary (2026.1) lists
them, so every course gets its therapeutic class and risk flags there; the loader only
names the drug, it never reads the formulary (services are not imported by clients).
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Regimen:
    """A drug with its usual adult starting dose and the steps a prescriber titrates through."""

    name: str
    rxcui: str
    start: float
    steps: tuple[float, ...] = ()  # the next doses, each below the formulary's daily maximum
    times_per_day: int = 1
    as_needed: bool = False
    indication: str = "F32.1"  # ICD-10: moderate depressive episode

    @property
    def drug(self) -> dict[str, str]:
        """The code alone: pharmacy names the drug as its formulary does."""
        return {"code": self.rxcui, "system": "RxNorm"}


DRUGS: dict[str, Regimen] = {r.name: r for r in (
    # antidepressants: SSRIs (N06AB), others (N06AX), a tricyclic (N06AA)
    Regimen("sertraline", "36437", 50, (100, 150, 200)),
    Regimen("escitalopram", "321988", 10, (15, 20)),
    Regimen("citalopram", "2556", 20, (30, 40)),
    Regimen("duloxetine", "72625", 30, (60, 90, 120), indication="F32.1"),
    Regimen("venlafaxine", "39786", 75, (150, 225)),
    Regimen("mirtazapine", "15996", 15, (30, 45), indication="F32.1"),
    Regimen("amitriptyline", "704", 10, (25, 50), indication="F45.4"),  # persistent somatoform pain
    # augmentation, sleep, anxiety
    Regimen("quetiapine", "51272", 25, (50, 100), indication="F33.1"),  # recurrent depression
    Regimen("zolpidem", "39993", 5, indication="F51.0"),  # nonorganic insomnia
    Regimen("lorazepam", "6470", 0.5, times_per_day=2, as_needed=True, indication="F41.1"),
    # pain: non-opioid, gabapentinoid, opioids
    Regimen("pregabalin", "187832", 75, (150,), times_per_day=2, indication="M79.2"),  # neuralgia
    Regimen("paracetamol", "161", 1000, times_per_day=3, indication="M79.1"),  # myalgia
    Regimen("ibuprofen", "5640", 400, times_per_day=3, indication="M79.1"),
    Regimen("tramadol", "10689", 50, (100,), times_per_day=3, indication="M54.5"),  # low back pain
    Regimen("oxycodone", "7804", 5, times_per_day=2, indication="M54.5"),
)}

SSRIS = ("sertraline", "escitalopram", "citalopram")
OTHER_ANTIDEPRESSANTS = ("duloxetine", "venlafaxine", "mirtazapine")


def augmentation_for(primary: str) -> str:
    """An add-on of another therapeutic class than ``primary`` (two of one class would be a
    duplication, which the dangerous-combination rule flags)."""
    return "mirtazapine" if primary in SSRIS else "quetiapine"


def switch_for(primary: str) -> str:
    """A drug of another class to switch to after an adverse effect or non-response."""
    return "duloxetine" if primary in SSRIS else "sertraline"


@dataclass(frozen=True)
class Instrument:
    code: str
    items: int
    item_max: int
    every_days: int  # how often the care team administers it

    @property
    def max_total(self) -> int:
        return self.items * self.item_max


INSTRUMENTS: tuple[Instrument, ...] = (
    Instrument("PHQ-9", 9, 3, 14),
    Instrument("GAD-7", 7, 3, 14),
    Instrument("PHQ-15", 15, 2, 28),
    Instrument("ISI", 7, 4, 28),
    Instrument("WSAS", 5, 8, 28),
    Instrument("PAIN-NRS", 1, 10, 28),
)
SAFETY_ITEM = 8  # PHQ-9 item 9 (0-based), thoughts of death or self-harm


def item_scores(instrument: Instrument, total: int, rng: random.Random, safety_item: int = 0) -> list[int]:
    """Item answers adding up to ``total``, spread the way a questionnaire fills in: a random
    item gains a point until the total is reached. PHQ-9 item 9 is set apart: it is 0 unless
    the story says otherwise, because any other value raises the safety flag."""
    items = [0] * instrument.items
    free = list(range(instrument.items))
    if instrument.code == "PHQ-9":
        items[SAFETY_ITEM] = safety_item
        free.remove(SAFETY_ITEM)
    remaining = max(0, min(total - sum(items), len(free) * instrument.item_max))
    while remaining > 0:
        i = rng.choice(free)
        if items[i] < instrument.item_max:
            items[i] += 1
            remaining -= 1
    return items


@dataclass(frozen=True)
class Presentation:
    """Baseline totals (ranges) of one kind of presentation."""

    name: str
    baselines: dict[str, tuple[int, int]]


PRESENTATIONS: dict[str, Presentation] = {p.name: p for p in (
    Presentation("depressive", {"PHQ-9": (15, 20), "GAD-7": (9, 14), "PHQ-15": (9, 14), "ISI": (12, 20),
                                "WSAS": (18, 28), "PAIN-NRS": (2, 5)}),
    Presentation("pain", {"PHQ-9": (11, 16), "GAD-7": (7, 12), "PHQ-15": (15, 20), "ISI": (14, 21),
                          "WSAS": (20, 30), "PAIN-NRS": (6, 8)}),
    Presentation("anxious", {"PHQ-9": (10, 14), "GAD-7": (14, 19), "PHQ-15": (10, 15), "ISI": (10, 17),
                             "WSAS": (15, 24), "PAIN-NRS": (2, 4)}),
)}
