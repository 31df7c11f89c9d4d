"""Only a topic's owner writes to it: the projection runner refuses (dead-letters) an event whose
type or ce_source names another service."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import ClassVar

import pytest

from shared.envelope import Envelope, event_type, new_envelope
from shared.events import DomainEvent
from shared.projection.items import ForgedEvent, check_owner, topic_owner


class DoseAdjusted(DomainEvent):
    event_name: ClassVar[str] = "DoseAdjusted"
    version: ClassVar[int] = 1


def sample_envelope() -> Envelope:
    return new_envelope("pharmacy", "course-1", DoseAdjusted(occurred_at=datetime.now(UTC)),
                        subject="patient-1", clinic_id="clinic-a")


def test_the_owner_is_read_from_the_topic_name_behind_any_namespace() -> None:
    assert topic_owner("carecoord.pharmacy.events.v1") == "pharmacy"
    assert topic_owner("t123.carecoord.assessment.events.v1") == "assessment"
    assert topic_owner("carecoord.coordination.flags.v1") == "coordination"
    assert topic_owner("someone-elses-topic") is None


def test_an_event_from_another_service_is_forged() -> None:
    env = replace(sample_envelope(), source="/carecoord/pharmacy", type=event_type("pharmacy", "DoseAdjusted", 1))
    check_owner("ns.carecoord.pharmacy.events.v1", env)  # the owner's own: accepted
    with pytest.raises(ForgedEvent) as refused:
        check_owner("ns.carecoord.assessment.events.v1", env)
    assert "assessment" in str(refused.value)
    spoofed_source = replace(env, source="/carecoord/assessment")  # the type still says pharmacy
    with pytest.raises(ForgedEvent):
        check_owner("ns.carecoord.assessment.events.v1", spoofed_source)
    spoofed_type = replace(env, type=event_type("assessment", "PatientEnrolled", 1))  # the source still says pharmacy
    with pytest.raises(ForgedEvent):
        check_owner("ns.carecoord.assessment.events.v1", spoofed_type)
    check_owner("not-ours", env)  # a topic outside the scheme has no owner to check
