"""Who is calling: roles and the clinics whose patients they may see.

The principal is derived from a verified token only. Services decide on it; they never
look at raw claims, so the claim format can change in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """Staff roles known to carecoord. Tokens may carry others; those are ignored."""

    PRESCRIBER = "prescriber"
    THERAPIST = "therapist"
    ASSESSOR = "assessor"
    COORDINATOR = "coordinator"
    AUDITOR = "auditor"
    DASHBOARD = "dashboard"
    ADMIN = "admin"

    @classmethod
    def parse_known(cls, values: list[str]) -> frozenset[Role]:
        """Keep the roles this system knows and drop the rest.

        Identity providers add roles of their own; an unknown one must neither fail the
        request nor grant anything.
        """
        known = {role.value for role in cls}
        return frozenset(cls(value) for value in values if value in known)


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated staff member.

    ``clinic_ids`` bounds which patients the caller may know exist: every patient
    belongs to one clinic, and a patient of another clinic must look absent (404).
    """

    staff_id: str
    roles: frozenset[Role]
    clinic_ids: frozenset[str]

    def can_see_clinic(self, clinic_id: str) -> bool:
        return clinic_id in self.clinic_ids

    def has_any_role(self, *roles: Role) -> bool:
        return not self.roles.isdisjoint(roles)
