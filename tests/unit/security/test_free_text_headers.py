"""Nothing a person typed reaches Kafka through a header or a preference: a correlation id that
is not a UUID is replaced, a language that is not a BCP 47 tag is refused (issue 14, item 8)."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from services.assessment.schemas import Preferences
from shared.request_context import correlation_id


def test_a_uuid_correlation_id_is_kept_in_canonical_form() -> None:
    given = "6F1C2D3E-4A5B-4C6D-8E7F-0123456789AB"
    assert correlation_id(given) == given.lower()
    assert correlation_id(f"  {given.lower()} ") == given.lower()


@pytest.mark.parametrize("typed", ["corr-7", "Erika Mustermann, case 7", "", None, "x" * 5000])
def test_anything_else_gets_a_new_one(typed: str | None) -> None:
    replaced = correlation_id(typed)
    assert str(uuid.UUID(replaced)) == replaced and (typed is None or typed not in replaced or typed == "")


@pytest.mark.parametrize("tag", ["en", "de-CH", "zh-Hant-TW", "sr-Latn-RS", "es-419", "de-DE-1996", "en-x-clinic"])
def test_bcp47_tags_are_accepted(tag: str) -> None:
    assert Preferences(language=tag).language == tag


@pytest.mark.parametrize("text", ["German please", "Erika spricht Deutsch", "de_CH", "english!", "d"])
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValidationError):
        Preferences(language=text)


def test_a_route_is_a_code_and_a_staff_id_is_no_name() -> None:
    from services.coordination.schemas import CaseConferenceRequest
    from services.pharmacy.schemas import StartRequest
    from services.therapy.schemas import StartRequest as EpisodeStart

    start = {"drug": {"code": "36437", "system": "RxNorm"}, "dose": 50, "unit": "mg",
             "schedule": {"times_per_day": 1}, "started_at": "2026-11-01T08:00:00Z"}
    assert StartRequest.model_validate({**start, "route": "transdermal"}).route == "transdermal"
    with pytest.raises(ValidationError, match="route"):
        StartRequest.model_validate({**start, "route": "by mouth, ask Erika"})
    episode = {"modality": "cbt", "care_step": 2, "started_at": "2026-11-01T08:00:00Z"}
    assert EpisodeStart.model_validate({**episode, "therapist_id": "th-4"}).therapist_id == "th-4"
    with pytest.raises(ValidationError, match="therapist_id"):
        EpisodeStart.model_validate({**episode, "therapist_id": "Erika Mustermann"})
    conference = {"held_at": "2026-09-12T13:00:00Z", "decisions": ["continue_plan"]}
    assert CaseConferenceRequest.model_validate({**conference, "attendees": ["staff-1", "dr.a@clinic"]})
    with pytest.raises(ValidationError, match="attendees"):
        CaseConferenceRequest.model_validate({**conference, "attendees": ["Dr. Erika Mustermann"]})
