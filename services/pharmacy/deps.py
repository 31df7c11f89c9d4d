"""The pharmacy service's dependencies, typed, for its routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from services.pharmacy.domain import Command, CourseState
from services.pharmacy.formulary import Formulary
from shared.handler import CommandHandler
from shared.service import ServiceContext, context_dependency


@dataclass
class PharmacyContext(ServiceContext):
    courses: CommandHandler[CourseState, Command]
    formulary: Formulary


Context = Annotated[PharmacyContext, Depends(context_dependency(PharmacyContext))]
