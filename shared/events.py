"""Base class of domain event payloads.

Domain events are plain, frozen pydantic models. The envelope (``shared.envelope``) adds
the metadata (ids, stream position, clinic, actor, trace) around them; domain code never
sees it. ``event_name`` and ``version`` name the CloudEvents type
``carecoord.<service>.<event_name>.v<version>``.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict


class DomainEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    event_name: ClassVar[str]
    version: ClassVar[int] = 1

    occurred_at: datetime
