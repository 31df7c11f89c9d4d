"""Pieces of explanations. Explanations are built from codes, numbers and dates only; a code is
reduced to a safe shape so that a malformed payload cannot smuggle free text into a flag."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,31}")


def code(value: str | None) -> str:
    return value if value is not None and _CODE.fullmatch(value) else "?"


def day(moment: datetime) -> str:
    return moment.astimezone(UTC).date().isoformat()


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
