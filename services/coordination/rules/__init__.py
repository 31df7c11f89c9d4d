"""Coordination's risk rules: pure functions of one patient's history (DOMAIN.md "Risk rules").

No I/O and no clock: ``evaluate(history, as_of, config)`` is all a caller needs, live, on a
periodic tick, or in a replay. One module per rule; payloads are read by field name in
:mod:`.reading` only; thresholds come from the versioned ``thresholds.toml``.
"""

from .catalogue import rules_catalogue
from .config import ClinicRules, RulesConfig, load_config, parse_config
from .engine import evaluate, evaluate_facts, facts_as_of
from .flags import Flag, FlagState, Severity, flag_id
from .history import HistoryEvent
from .registry import RULES
from .thresholds import ConfigError

__all__ = [
    "RULES",
    "ClinicRules",
    "ConfigError",
    "Flag",
    "FlagState",
    "HistoryEvent",
    "RulesConfig",
    "Severity",
    "evaluate",
    "evaluate_facts",
    "facts_as_of",
    "flag_id",
    "load_config",
    "parse_config",
    "rules_catalogue",
]
