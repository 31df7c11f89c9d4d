"""The therapy service's dependencies, typed, for its routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from services.therapy.domain import Command, EpisodeState
from shared.handler import CommandHandler
from shared.service import ServiceContext, context_dependency


@dataclass
class TherapyContext(ServiceContext):
    episodes: CommandHandler[EpisodeState, Command]


Context = Annotated[TherapyContext, Depends(context_dependency(TherapyContext))]
