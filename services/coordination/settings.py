"""The coordination service's settings: the common ones plus the rules' (``CARECOORD_COORDINATION_*``)."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.services import SERVICES
from shared.settings import ServiceSettings


def _local_peers() -> dict[str, str]:
    return {name: f"http://127.0.0.1:{port}" for name, port in SERVICES.items() if name != "coordination"}


class CoordinationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CARECOORD_COORDINATION_", extra="ignore", frozen=True)
    service_name: ClassVar[str] = "coordination"
    database_url: str = "postgresql://carecoord:carecoord@127.0.0.1:5432/carecoord_coordination"

    # How often the tick re-evaluates patients whose deadlines may have passed with no new event.
    rules_tick_seconds: Annotated[float, Field(gt=0)] = 60.0
    # Patients per tick transaction: their locks are held while they are evaluated.
    rules_tick_batch: Annotated[int, Field(ge=1)] = 200
    # A deployment's own thresholds file (TOML, as services/coordination/rules/thresholds.toml);
    # unset: the packaged one.
    rules_thresholds_file: str | None = None
    # Where the other services answer GET /v1/audit/access, which the merged access log asks with
    # the auditor's own token (JSON in the environment: {"pharmacy": "http://pharmacy:8002", ...}).
    audit_peer_urls: dict[str, str] = Field(default_factory=_local_peers)
    # A service slower than this is reported unavailable rather than holding the answer.
    audit_peer_timeout_seconds: Annotated[float, Field(gt=0)] = 5.0

    # The pages' local sign-in (/ui/sign-in mints a token with the stack's own HS256 secret): the
    # local stack turns it on; elsewhere staff bring a token from the identity provider.
    ui_local_sign_in: bool = False
    # Where the pages' look-up of patients' display names reaches the assessment service.
    ui_assessment_url: str = "http://127.0.0.1:8001"


def coordination_settings(settings: ServiceSettings) -> CoordinationSettings:
    """``settings`` as coordination's own (a generic ``settings_for("coordination")`` instance, as
    the shared test helpers build, is read again with the rules' settings from the environment)."""
    if isinstance(settings, CoordinationSettings):
        return settings
    return CoordinationSettings(**settings.model_dump())
