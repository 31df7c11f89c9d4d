"""The thresholds file: defaults of DOMAIN.md, clinic overrides, refusals on load, and the catalogue."""

from __future__ import annotations

import pytest

from services.coordination.rules import ConfigError, load_config, parse_config, rules_catalogue
from services.coordination.rules.config import packaged_text
from tests.unit.coordination_rules.builders import clinic


def test_the_packaged_file_holds_the_domains_defaults() -> None:
    config = load_config()
    d = config.defaults
    assert config.version == "2026.1"
    assert dict(d.values("polypharmacy")) == {"count": 5, "high_count": 10}
    assert dict(d.values("stalled_escalation")) == {"days": 14}
    assert d.values("stalled_progress")["days"] == 56 and d.values("stalled_progress")["response_reduction"] == 0.5
    assert dict(d.values("plan_review_due"))["days"] == 14
    assert dict(d.values("disengagement")) == {"missed_in_a_row": 2, "days_without_session": 21}
    assert dict(d.values("rapid_titration")) == {"increases": 2, "days": 7}
    assert d.values("unreviewed_adverse_effect")["severities"] == ("moderate", "severe")
    assert d.values("dangerous_combination")["opioid_benzodiazepine"] == "high"


def test_a_clinic_override_changes_only_what_it_names() -> None:
    rules = clinic('[clinics."clinic-b".polypharmacy]\ncount = 4\n')
    assert rules.clinic_id == "clinic-b"
    assert dict(rules.values("polypharmacy")) == {"count": 4, "high_count": 10}
    assert dict(rules.values("rapid_titration")) == {"increases": 2, "days": 7}


def test_a_clinic_without_overrides_gets_the_defaults() -> None:
    config = load_config()
    rules = config.for_clinic("clinic-z")
    assert rules.clinic_id == "clinic-z" and rules.thresholds == config.defaults.thresholds


@pytest.mark.parametrize(("extra", "message"), [
    ('[clinics."c".polypharmacy]\ncount = "4"\n', "expected int"),
    ('[clinics."c".polypharmacy]\ncount = true\n', "expected int"),
    ('[clinics."c".polypharmacy]\ncuont = 4\n', "unknown threshold"),
    ('[clinics."c".polypharmacy]\nhigh_count = 3\n', "high_count must not be below count"),
    ('[clinics."c".polypharmcy]\ncount = 4\n', "unknown rule"),
    ('[clinics."c".dangerous_combination]\nopioid_benzodiazepine = "severe"\n', "severity must be one of"),
    ('[clinics."c".stalled_progress]\nresponse_reduction = 1.5\n', "response_reduction"),
    ('[rules.made_up]\nx = 1\n', "unknown rule"),
])
def test_a_bad_override_fails_on_load(extra: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(packaged_text() + "\n" + extra)


def test_a_file_without_version_or_with_a_missing_threshold_or_bad_toml_fails() -> None:
    with pytest.raises(ConfigError, match="version"):
        parse_config(packaged_text().replace('version = "2026.1"', ""))
    with pytest.raises(ConfigError, match="missing threshold"):
        parse_config(packaged_text().replace("high_count = 10", ""))
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_config("version = ")


def test_the_catalogue_lists_every_rule_with_versions_and_the_asked_clinics() -> None:
    config = parse_config(packaged_text() + '\n[clinics."clinic-b".polypharmacy]\ncount = 4\n')
    catalogue = rules_catalogue(config, ["clinic-b", "clinic-a"])
    assert catalogue["thresholds_version"] == "2026.1"
    rules = {r["rule_id"]: r for r in catalogue["rules"]}
    assert len(rules) == 9
    poly = rules["polypharmacy"]
    assert (poly["version"], poly["rule_version"]) == (1, "1+thresholds.2026.1")
    assert poly["clinics"] == {"clinic-a": {"count": 5, "high_count": 10}, "clinic-b": {"count": 4, "high_count": 10}}
    assert rules["stalled_progress"]["defaults"]["instruments"] == ["PHQ-9", "PHQ-15", "GAD-7"]
