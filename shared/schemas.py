"""Base of every request body: unknown fields refused, and text PostgreSQL cannot store
refused with a 422 naming the field, instead of failing deep in the database."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

MAX_INT = 2**31 - 1  # PostgreSQL integer: larger counts and versions cannot be stored


def storable(value: Any) -> Any:
    """Reject NUL characters (PostgreSQL text cannot hold them) and lone surrogates (they
    are not UTF-8), in strings and in lists or dicts of them."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("must be valid Unicode text") from None
    elif isinstance(value, list | tuple):
        for item in value:
            storable(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            storable(key)
            storable(item)
    return value


class Strict(BaseModel):
    """Request bodies: unknown fields refused, only text the database can store, and no NaN or
    Infinity in a float field (JSON cannot carry them onto an event)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any, info: ValidationInfo) -> Any:
        return storable(value)
