"""Typed thresholds of a rule, read from the configuration file's plain values.

Each rule declares its thresholds as a frozen dataclass of ints, floats, strings and tuples of
strings; :func:`parse` checks a table of the file against it, so a typo or a wrong type in a
clinic's override fails when the file is loaded rather than when a patient is evaluated.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from .flags import SEVERITY_RANK, ThresholdValue

T = TypeVar("T")

SEVERITY_OR_OFF = (*SEVERITY_RANK, "off")


class ConfigError(ValueError):
    """The thresholds file is not what the rules can use."""


def _value(where: str, name: str, kind: Any, raw: object) -> ThresholdValue:
    if kind is int and isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if kind is float and isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    if kind is str and isinstance(raw, str):
        return raw
    if typing.get_origin(kind) is tuple and isinstance(raw, list | tuple) and all(isinstance(v, str) for v in raw):
        return tuple(raw)
    raise ConfigError(f"{where}.{name}: expected {getattr(kind, '__name__', kind)}, got {type(raw).__name__}")


def parse(cls: type[T], values: Mapping[str, object], where: str) -> T:
    """``cls`` built from ``values``; unknown names and wrong types are refused, missing ones too."""
    hints = typing.get_type_hints(cls)
    names = {fld.name for fld in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(values) - names
    if unknown:
        raise ConfigError(f"{where}: unknown threshold(s) {', '.join(sorted(unknown))}")
    missing = names - set(values)
    if missing:
        raise ConfigError(f"{where}: missing threshold(s) {', '.join(sorted(missing))}")
    built = cls(**{name: _value(where, name, hints[name], values[name]) for name in names})
    check = getattr(built, "check", None)
    if check is not None:
        problem = check()
        if problem:
            raise ConfigError(f"{where}: {problem}")
    return built


def as_mapping(thresholds: object) -> dict[str, ThresholdValue]:
    """The thresholds as the flag records them (field order kept)."""
    return {fld.name: getattr(thresholds, fld.name) for fld in dataclasses.fields(thresholds)}  # type: ignore[arg-type]
