"""What code below the metrics middleware tells it about the current request.

The error handlers, the erasure check and the command handler know why a command was
refused or which clinic it is about; the middleware, which counts the command, does not.
A per-request :class:`RequestNote` carries it across: outside a measured request (a unit
test calling a handler directly, a benchmark) the note is absent and nothing is recorded.
This module imports nothing of the project, so the kernel can use it without cycles.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass


@dataclass(slots=True)
class RequestNote:
    reason: str | None = None
    conflict: bool = False
    clinic: str | None = None


_note: ContextVar[RequestNote | None] = ContextVar("carecoord_request_note", default=None)


def begin() -> tuple[RequestNote, Token[RequestNote | None]]:
    note = RequestNote()
    return note, _note.set(note)


def end(token: Token[RequestNote | None]) -> None:
    _note.reset(token)


def note_refusal(reason: str, *, conflict: bool = False) -> None:
    """Why the current command is refused; the first (most specific) reason wins."""
    note = _note.get()
    if note is not None and note.reason is None:
        note.reason = reason
        note.conflict = conflict


def note_clinic(clinic_id: str) -> None:
    """The clinic the current command is about (a label only if the operator listed it)."""
    note = _note.get()
    if note is not None:
        note.clinic = clinic_id
