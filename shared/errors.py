"""Errors that domain code raises and every API maps the same way.

Messages must never contain patient data: they reach HTTP clients and logs.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of all refusals a decider can give."""

    status_code = 422

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


class RuleViolation(DomainError):
    """The command breaks a clinical or input rule (HTTP 422)."""

    status_code = 422


class Conflict(DomainError):
    """The command is not possible in the stream's current state (HTTP 409)."""

    status_code = 409


class NotFound(DomainError):
    """Unknown aggregate, or one the caller may not know exists (HTTP 404)."""

    status_code = 404
