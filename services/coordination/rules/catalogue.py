"""What ``GET /v1/rules`` shows: every rule, its version, and the thresholds of the asked clinics."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .config import RulesConfig
from .flags import ThresholdValue
from .registry import RULES


def _plain(values: Iterable[tuple[str, ThresholdValue]]) -> dict[str, Any]:
    return {name: list(v) if isinstance(v, tuple) else v for name, v in values}


def rules_catalogue(config: RulesConfig, clinics: Iterable[str]) -> dict[str, Any]:
    """JSON-ready: ``{"thresholds_version", "rules": [{rule_id, version, rule_version, description,
    defaults, clinics: {clinic id: thresholds}}]}``; a clinic without overrides shows the defaults."""
    wanted = sorted(set(clinics))
    return {
        "thresholds_version": config.version,
        "rules": [{
            "rule_id": rule.rule_id,
            "version": rule.version,
            "rule_version": config.defaults.rule_version(rule),
            "description": rule.description,
            "defaults": _plain(config.defaults.values(rule.rule_id).items()),
            "clinics": {c: _plain(config.for_clinic(c).values(rule.rule_id).items()) for c in wanted},
        } for rule in RULES],
    }
