"""The byte-count shortcut of the JSON limits never answers differently from the full scan."""

from __future__ import annotations

import json
import random

import pytest

from shared import limits as limits_module
from shared.limits import Limits, json_problem

SMALL = Limits(max_json_depth=3, max_json_array=4)


def _value(rng: random.Random, depth: int) -> object:
    kind = rng.choice(["int", "str", "list", "dict", "nan"] if depth < 5 else ["int", "str"])
    if kind == "int":
        return rng.randint(-5, 5)
    if kind == "str":  # brackets, commas and the literals inside strings, where they mean nothing
        return "".join(rng.choice(["a", "[", "{", ",", "]", "NaN", "-Infinity", '"', "\\"])
                       for _ in range(rng.randint(0, 4)))
    if kind == "nan":
        return float(rng.choice(["nan", "inf", "-inf"])) if rng.random() < 0.3 else 1.5
    if kind == "list":
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 6))]
    return {f"k{i}": _value(rng, depth + 1) for i in range(rng.randint(0, 4))}


def _full_scan(body: bytes, limits: Limits, monkeypatch: pytest.MonkeyPatch) -> object:
    with monkeypatch.context() as m:
        m.setattr(limits_module, "_plainly_within", lambda _body, _limits: False)
        return json_problem(body, limits)


def test_the_shortcut_agrees_with_the_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(15)
    refused = 0
    for _ in range(3000):
        body = json.dumps(_value(rng, 0)).encode()
        for limits in (SMALL, Limits()):
            expected = _full_scan(body, limits, monkeypatch)
            assert json_problem(body, limits) == expected, body
            refused += expected is not None
    assert refused > 100  # the bodies reach every limit, not only the happy path


def test_an_ordinary_command_body_takes_the_shortcut() -> None:
    body = json.dumps({"dose": 50, "unit": "mg", "reason": "titration",
                       "effective_at": "2026-11-16T10:00:00+01:00", "expected_version": 3}).encode()
    assert limits_module._plainly_within(body, Limits())
    assert json_problem(body, Limits()) is None
