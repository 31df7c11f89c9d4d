"""Parsing a formulary document: malformed or contradictory data fails at load time."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from services.pharmacy.formulary import FormularyError, load_formulary, parse_formulary

Document = dict[str, Any]


def minimal() -> Document:
    return {
        "version": "2099.1",
        "sources": [{"id": "who-atc", "title": "ATC/DDD Index", "publisher": "WHO", "used_for": "atc"}],
        "therapeutic_classes": {"N06AB": {"label": "SSRI", "atc_name": "Selective serotonin reuptake inhibitors"}},
        "drugs": [
            {
                "name": "sertraline",
                "rxnorm": "36437",
                "atc": "N06AB06",
                "therapeutic_class": "N06AB",
                "flags": {
                    "opioid": False,
                    "benzodiazepine": False,
                    "serotonergic": True,
                    "qt_prolonging": False,
                    "cns_depressant": False,
                },
                "max_daily_dose": {"value": 200, "unit": "mg"},
            }
        ],
    }


def with_second_drug(**changes: Any) -> Document:
    document = minimal()
    second = copy.deepcopy(document["drugs"][0]) | {"name": "fluoxetine"}
    document["drugs"].append(second | changes)
    return document


def changed_drug(**changes: Any) -> Document:
    document = minimal()
    document["drugs"][0] |= changes
    return document


def test_a_minimal_document_parses() -> None:
    parsed = parse_formulary(minimal())
    assert parsed.version == "2099.1"
    entry = parsed.lookup("36437", "RxNorm")
    assert entry is not None and entry.therapeutic_class.atc_name.startswith("Selective")


BROKEN: dict[str, Callable[[], Document]] = {
    "duplicate rxnorm": lambda: with_second_drug(atc="N06AB03"),
    "duplicate atc": lambda: with_second_drug(rxnorm="4493"),
    "level-4 atc": lambda: changed_drug(atc="N06AB"),
    "lower-case atc": lambda: changed_drug(atc="n06ab06"),
    "non-numeric rxnorm": lambda: changed_drug(rxnorm="RX36437"),
    "class not matching atc": lambda: changed_drug(atc="N06AX16"),
    "undefined class": lambda: changed_drug(atc="N06AX16", therapeutic_class="N06AX"),
    "dose limit in mcg": lambda: changed_drug(max_daily_dose={"value": 200, "unit": "mcg"}),
    "zero dose limit": lambda: changed_drug(max_daily_dose={"value": 0, "unit": "mg"}),
    "missing flag": lambda: changed_drug(flags={"opioid": False}),
    "flag not a boolean": lambda: changed_drug(flags=minimal()["drugs"][0]["flags"] | {"opioid": "no"}),
    "unknown drug field": lambda: changed_drug(strength="50 mg"),
    "no drugs": lambda: minimal() | {"drugs": []},
    "no sources": lambda: minimal() | {"sources": []},
    "malformed version": lambda: minimal() | {"version": "latest"},
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_documents_are_refused(case: str) -> None:
    with pytest.raises(FormularyError):
        parse_formulary(BROKEN[case]())


def test_load_reads_a_given_file(tmp_path: Path) -> None:
    path = tmp_path / "formulary-2099.1.json"
    path.write_text(json.dumps(minimal()), encoding="utf-8")
    assert load_formulary(path).version == "2099.1"


def test_load_refuses_invalid_json(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(FormularyError, match="JSON"):
        load_formulary(path)


def test_load_refuses_a_document_that_is_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text("[]", encoding="utf-8")
    with pytest.raises(FormularyError, match="object"):
        load_formulary(path)
