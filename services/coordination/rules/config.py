"""The versioned thresholds file and each clinic's view of it.

The file (``thresholds.toml`` next to this module) holds a ``version``, one ``[rules.<id>]``
table of defaults per rule, and optional ``[clinics."<clinic>".<id>]`` tables that override
single thresholds. Everything is checked on load: a clinic's typo fails at start-up, not in the
middle of a patient's evaluation.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from types import MappingProxyType
from typing import Any

from .flags import ThresholdValue
from .registry import RULES, RULES_BY_ID, Rule
from .thresholds import ConfigError, as_mapping, parse

THRESHOLDS_FILE = "thresholds.toml"


@dataclass(frozen=True, slots=True)
class ClinicRules:
    """The thresholds one clinic's patients are evaluated with."""

    version: str  # the thresholds file's version
    clinic_id: str | None  # None: the defaults
    thresholds: Mapping[str, Any]  # rule id → that rule's typed Thresholds

    def rule_version(self, rule: Rule) -> str:
        return f"{rule.version}+thresholds.{self.version}"

    def values(self, rule_id: str) -> Mapping[str, ThresholdValue]:
        return MappingProxyType(as_mapping(self.thresholds[rule_id]))


@dataclass(frozen=True, slots=True)
class RulesConfig:
    version: str
    defaults: ClinicRules
    clinics: Mapping[str, ClinicRules] = field(default_factory=lambda: MappingProxyType({}))

    def for_clinic(self, clinic_id: str | None) -> ClinicRules:
        """A clinic without overrides gets the defaults (under its own id)."""
        if clinic_id is None:
            return self.defaults
        found = self.clinics.get(clinic_id)
        return found or ClinicRules(self.version, clinic_id, self.defaults.thresholds)


def _table(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a table")
    return value


def parse_config(text: str) -> RulesConfig:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"thresholds file is not valid TOML: {exc}") from exc
    version = data.get("version")
    if not isinstance(version, str) or not version:
        raise ConfigError("thresholds file needs a version string")
    extra = set(data) - {"version", "rules", "clinics"}
    if extra:
        raise ConfigError(f"unknown top-level key(s) {', '.join(sorted(extra))}")
    rules = _table(data.get("rules", {}), "rules")
    unknown = set(rules) - set(RULES_BY_ID)
    if unknown:
        raise ConfigError(f"unknown rule(s) {', '.join(sorted(unknown))}")
    raw = {r.rule_id: dict(_table(rules.get(r.rule_id, {}), f"rules.{r.rule_id}")) for r in RULES}
    defaults = ClinicRules(version, None, MappingProxyType(
        {rid: parse(RULES_BY_ID[rid].thresholds_type, values, f"rules.{rid}") for rid, values in raw.items()}))
    clinics: dict[str, ClinicRules] = {}
    for clinic_id, overrides in _table(data.get("clinics", {}), "clinics").items():
        where = f"clinics.{clinic_id}"
        overrides = _table(overrides, where)
        unknown = set(overrides) - set(RULES_BY_ID)
        if unknown:
            raise ConfigError(f"{where}: unknown rule(s) {', '.join(sorted(unknown))}")
        built = {rid: parse(RULES_BY_ID[rid].thresholds_type,
                            {**values, **_table(overrides.get(rid, {}), f"{where}.{rid}")}, f"{where}.{rid}")
                 for rid, values in raw.items()}
        clinics[clinic_id] = ClinicRules(version, clinic_id, MappingProxyType(built))
    return RulesConfig(version, defaults, MappingProxyType(clinics))


def packaged_text() -> str:
    here = resources.files(__package__ or "services.coordination.rules")
    return here.joinpath(THRESHOLDS_FILE).read_text(encoding="utf-8")


def load_config(text: str | None = None) -> RulesConfig:
    """The packaged thresholds file, or ``text`` (a deployment's own file, a test's)."""
    return parse_config(packaged_text() if text is None else text)
