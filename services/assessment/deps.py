"""The assessment service's dependencies, typed, for its routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from services.assessment.domain import Command, PatientRecord
from shared.handler import CommandHandler
from shared.service import ServiceContext, context_dependency


@dataclass
class AssessmentContext(ServiceContext):
    records: CommandHandler[PatientRecord, Command]


Context = Annotated[AssessmentContext, Depends(context_dependency(AssessmentContext))]
