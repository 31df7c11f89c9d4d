"""The coordination service's dependencies, typed, for its routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from services.coordination.domain import CarePlanState, Command
from services.coordination.flagging.evaluation import Flagging
from services.coordination.flagging.tick import RulesTick
from shared.handler import CommandHandler
from shared.projection import ProjectionRunner
from shared.service import ServiceContext, context_dependency


@dataclass
class CoordinationContext(ServiceContext):
    care_plans: CommandHandler[CarePlanState, Command]
    projection: ProjectionRunner
    flagging: Flagging
    tick: RulesTick


Context = Annotated[CoordinationContext, Depends(context_dependency(CoordinationContext))]
