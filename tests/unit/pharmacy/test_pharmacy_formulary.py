"""The packaged formulary file: consistent clinical data, and lookups by RxNorm and ATC."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import FrozenInstanceError
from importlib import resources
from typing import Any

import pytest
from pydantic import ValidationError

from services.pharmacy.formulary import (
    ATC_CODE,
    CURRENT_FILE,
    Formulary,
    load_formulary,
    parse_formulary,
    read_formulary_text,
)

from .builders import formulary


def document() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(read_formulary_text())
    return data


def entries_in(group: str) -> list[str]:
    return [entry.name for entry in formulary() if entry.atc.startswith(group)]


def test_the_packaged_file_is_the_current_version() -> None:
    assert formulary().version == "2026.1"
    assert CURRENT_FILE == f"formulary-{formulary().version}.json"
    assert resources.files("services.pharmacy.formulary").joinpath(CURRENT_FILE).is_file()


def test_parsing_is_separate_from_reading() -> None:
    assert parse_formulary(document()) == load_formulary()


def test_it_lists_at_least_forty_drugs() -> None:
    assert len(formulary()) >= 40


def test_codes_and_names_are_unique() -> None:
    rxnorm = Counter(entry.rxnorm for entry in formulary() if entry.rxnorm is not None)
    atc = Counter(entry.atc for entry in formulary())
    names = Counter(entry.name for entry in formulary())
    assert [code for code, n in rxnorm.items() if n > 1] == []
    assert [code for code, n in atc.items() if n > 1] == []
    assert [name for name, n in names.items() if n > 1] == []


def test_every_atc_code_is_a_well_formed_level_5_code() -> None:
    for entry in formulary():
        assert ATC_CODE.fullmatch(entry.atc), entry.name
        assert entry.therapeutic_class.code == entry.atc[:5], entry.name


@pytest.mark.parametrize("group", ["N02A", "N07BC"])
def test_every_opioid_group_member_is_flagged_opioid(group: str) -> None:
    assert entries_in(group)
    for entry in formulary():
        if entry.atc.startswith(group):
            assert entry.flags.opioid, entry.name


def test_opioids_classified_outside_n02a_are_flagged_too() -> None:
    for code in ("R05DA04", "R05DA03", "N07BC02"):  # codeine, hydrocodone, methadone
        entry = formulary().lookup(code, "ATC")
        assert entry is not None and entry.flags.opioid and entry.flags.cns_depressant


@pytest.mark.parametrize("group", ["N05BA", "N05CD", "N03AE"])
def test_every_benzodiazepine_group_member_is_flagged(group: str) -> None:
    assert entries_in(group)
    for entry in formulary():
        if entry.atc.startswith(group):
            assert entry.flags.benzodiazepine, entry.name
            assert entry.flags.cns_depressant, entry.name


def test_only_benzodiazepine_groups_are_flagged_benzodiazepine() -> None:
    flagged = {entry.atc[:5] for entry in formulary() if entry.flags.benzodiazepine}
    assert flagged <= {"N05BA", "N05CD", "N03AE"}


def test_z_drugs_are_cns_depressants_but_not_benzodiazepines() -> None:
    for entry in formulary():
        if entry.atc.startswith("N05CF"):
            assert entry.flags.cns_depressant and not entry.flags.benzodiazepine


@pytest.mark.parametrize("group", ["N06AB", "N06AA", "N02CC"])
def test_ssris_tricyclics_and_triptans_are_serotonergic(group: str) -> None:
    assert entries_in(group)
    for entry in formulary():
        if entry.atc.startswith(group):
            assert entry.flags.serotonergic, entry.name


def test_qt_flag_marks_the_known_risk_drugs_only() -> None:
    flagged = {entry.name for entry in formulary() if entry.flags.qt_prolonging}
    assert flagged == {"citalopram", "escitalopram", "methadone", "haloperidol", "ondansetron"}


def test_gabapentinoids_are_cns_depressants() -> None:
    for code in ("187832", "25480"):
        entry = formulary().lookup(code, "RxNorm")
        assert entry is not None and entry.flags.cns_depressant


@pytest.mark.parametrize(
    ("name", "max_mg"),
    [
        ("sertraline", 200),
        ("citalopram", 40),
        ("escitalopram", 20),
        ("fluoxetine", 80),
        ("quetiapine", 800),
        ("zolpidem", 10),
        ("tramadol", 400),
        ("paracetamol", 4000),
        ("ibuprofen", 3200),
        ("pregabalin", 600),
        ("duloxetine", 120),
        ("venlafaxine", 375),
        ("mirtazapine", 45),
    ],
)
def test_well_established_maximum_daily_doses(name: str, max_mg: float) -> None:
    entry = next(entry for entry in formulary() if entry.name == name)
    assert entry.max_daily_dose is not None
    assert (entry.max_daily_dose.value, entry.max_daily_dose.unit) == (max_mg, "mg")


def test_opioids_without_a_label_ceiling_have_no_maximum() -> None:
    for code in ("7052", "7804", "4337", "6813"):  # morphine, oxycodone, fentanyl, methadone
        entry = formulary().lookup(code, "RxNorm")
        assert entry is not None and entry.max_daily_dose is None


def test_it_covers_the_drug_groups_the_care_teams_prescribe() -> None:
    classes = {entry.therapeutic_class.code for entry in formulary()}
    for group in ("N06AB", "N06AX", "N06AA", "N05BA", "N05CF", "N02AA", "N02AX", "N02BE"):
        assert group in classes
    for group in ("M01AE", "N05AH", "N05AX", "N03AX", "N02CC"):
        assert group in classes


def test_sources_cite_the_references_the_flags_come_from() -> None:
    ids = {source.id for source in formulary().sources}
    assert {"who-atc", "rxnorm", "fda-opioid-benzodiazepine-2016", "crediblemeds-qtdrugs"} <= ids


def test_lookup_by_rxnorm() -> None:
    entry = formulary().lookup("36437", "RxNorm")
    assert entry is not None
    assert (entry.name, entry.atc) == ("sertraline", "N06AB06")
    assert (entry.therapeutic_class.code, entry.therapeutic_class.label) == ("N06AB", "SSRI")
    assert formulary().lookup(" 36437 ", "RxNorm") == entry


def test_lookup_by_atc_ignores_case() -> None:
    entry = formulary().lookup("n06ab10", "ATC")
    assert entry is not None and entry.name == "escitalopram"
    assert entry.rxnorm == "321988"


def test_lookup_does_not_cross_code_systems() -> None:
    assert formulary().lookup("N06AB06", "RxNorm") is None
    assert formulary().lookup("36437", "ATC") is None


def test_unknown_codes_are_not_found() -> None:
    assert formulary().lookup("99999999", "RxNorm") is None
    assert formulary().lookup("N06AB99", "ATC") is None


def test_an_entry_without_a_confirmed_rxcui_is_found_by_atc() -> None:
    entry = formulary().lookup("N02CC02", "ATC")
    assert entry is not None and entry.rxnorm is None


def test_an_unknown_code_system_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="code system"):
        formulary().lookup("36437", "SNOMED")  # type: ignore[arg-type]


def test_the_formulary_and_its_entries_are_immutable() -> None:
    loaded = formulary()
    with pytest.raises(FrozenInstanceError):
        loaded.version = "2027.1"  # type: ignore[misc]
    entry = loaded.drugs[0]
    with pytest.raises(ValidationError):
        entry.name = "something else"  # type: ignore[misc]


def test_duplicate_codes_cannot_form_a_formulary() -> None:
    entry = formulary().drugs[0]
    with pytest.raises(ValueError, match="used by both"):
        Formulary(version="x", drugs=(entry, entry))
