"""Service settings, read from the environment by pydantic-settings.

Each service subclasses :class:`ServiceSettings` with its own prefix
(``CARECOORD_PHARMACY_`` …). Infrastructure shared by all services (Kafka, the JWT secret,
telemetry) may also come from the unprefixed ``CARECOORD_`` variable that the local stack
exports, so one environment serves four services. Nothing is read at import time:
``PharmacySettings()`` reads the environment when called, in the app factory.
"""

from __future__ import annotations

import os
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_SHARED_FIELDS = (
    "kafka_bootstrap_servers",
    "topic_namespace",
    "topic_partitions",
    "topic_replication_factor",
    "topic_min_insync_replicas",
    "jwt_algorithm",
    "jwt_secret",
    "audit_key",
    "jwt_public_key",
    "jwks_url",
    "jwks_cache_seconds",
    "jwt_max_lifetime_seconds",
    "api_docs_enabled",
    "rate_limit_per_second",
    "rate_limit_burst",
    "telemetry_exporter",
    "otlp_endpoint",
    "telemetry_sample_ratio",
    "metrics_clinics",
    "log_level",
    "supervisor_status",
    "fault_points",
)


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    service_name: ClassVar[str] = "service"

    database_url: str = "postgresql://carecoord:carecoord@127.0.0.1:5432/postgres"
    # Tests isolate their tables in a schema of their own; production uses public.
    database_schema: str = "public"
    database_pool_size: int = 10
    # Longest wait for a lock (the append lock under a burst, a table lock during a deploy)
    # before a command is answered 503 instead of hanging.
    database_lock_timeout: float = 10.0
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    # Prefix of every topic name ("" in production); tests use it to isolate topics.
    topic_namespace: str = ""
    topic_partitions: int = 6
    # Producers use acks=all, which waits for the in-sync replicas only: with one replica in
    # sync an acknowledged event lives on one disk. Deployments run 3 replicas with
    # min.insync.replicas=2, so an acknowledged event survives the loss of a broker and a
    # write fails (and is retried) rather than landing on a lone replica. The single local
    # broker can hold 1/1 only.
    topic_replication_factor: int = 1
    topic_min_insync_replicas: int = 1
    jwt_algorithm: Literal["HS256", "RS256"] = "HS256"
    jwt_secret: str | None = None
    # Signs the event stores' chain checkpoints (shared.audit); kept out of the database so
    # that someone who can write the tables cannot re-sign a rewritten history. Unset: no
    # checkpoints are taken.
    audit_key: str | None = None
    audit_checkpoint_seconds: float = 60.0
    jwt_public_key: str | None = None
    jwks_url: str | None = None
    # A JWKS key set is used at most this long (shorter when its Cache-Control says so): a key
    # the identity provider revoked stops verifying within this time.
    jwks_cache_seconds: Annotated[float, Field(gt=0)] = 300.0
    # Tokens living longer (exp - iat) are refused: a stolen one stops working within a shift.
    jwt_max_lifetime_seconds: Annotated[int, Field(gt=0)] = 12 * 3600
    # /docs and /openapi.json: off unless enabled (the local stack enables them).
    api_docs_enabled: bool = False
    # Request limits, checked before authentication (413, 431, 422 naming the field).
    max_body_bytes: Annotated[int, Field(gt=0)] = 64 * 1024
    max_header_bytes: Annotated[int, Field(gt=0)] = 16 * 1024
    max_json_depth: Annotated[int, Field(gt=0)] = 32
    max_json_array: Annotated[int, Field(gt=0)] = 1000
    # Per principal and per instance (a token bucket in the process): above it, 429 with
    # Retry-After. 0 turns it off.
    rate_limit_per_second: Annotated[float, Field(ge=0)] = 50.0
    rate_limit_burst: Annotated[int, Field(ge=1)] = 200
    # /ready answers from a result at most this old, so a flood of probes is not a flood of
    # database and broker round trips.
    ready_cache_seconds: Annotated[float, Field(ge=0)] = 1.0
    # How long an unknown patient id is looked for before the answer is 404 (a patient enrolled
    # a moment ago may not have reached this service yet); every 404 of a patient takes it.
    directory_miss_wait_seconds: Annotated[float, Field(ge=0, le=10)] = 1.0
    telemetry_exporter: Literal["off", "console", "otlp"] = "off"
    otlp_endpoint: str | None = None
    # Share of new traces kept (parent-based: a request that arrives sampled stays sampled).
    telemetry_sample_ratio: Annotated[float, Field(ge=0.0, le=1.0)] = 1.0
    # Clinic ids that may appear as a label of the command metrics, comma-separated; every other
    # clinic counts as "other". Empty (the default): no clinic label at all.
    metrics_clinics: str = ""
    log_level: str = "INFO"
    # A process supervisor's status file (deploy/local/supervise.py): /ready then shows the
    # restarts of the services whose topics this one reads, under "peers" (shared.peers).
    supervisor_status: str | None = None
    # A folder where a fault-injection run arms the fault points (shared.faultpoints); unset
    # everywhere else.
    fault_points: str | None = None
    relay_enabled: bool = True
    relay_batch_size: int = 1000
    relay_idle_seconds: float = 0.05

    @model_validator(mode="before")
    @classmethod
    def _shared_infrastructure(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for name in _SHARED_FIELDS:
            value = os.environ.get(f"CARECOORD_{name.upper()}")
            if name not in data and value is not None:
                data[name] = value
        return data

    def topic(self, service: str | None = None, kind: str = "events") -> str:
        """Topic name: ``carecoord.<service>.<kind>.v1`` behind the optional namespace."""
        name = f"carecoord.{service or self.service_name}.{kind}.v1"
        return f"{self.topic_namespace}{name}"


def settings_for(service: str) -> type[ServiceSettings]:
    """A settings class for ``service`` reading ``CARECOORD_<SERVICE>_*`` variables."""
    prefix = f"CARECOORD_{service.upper()}_"
    default_db = f"postgresql://carecoord:carecoord@127.0.0.1:5432/carecoord_{service}"

    class _Settings(ServiceSettings):
        model_config = SettingsConfigDict(env_prefix=prefix, extra="ignore", frozen=True)
        service_name: ClassVar[str] = service
        database_url: str = default_db

    _Settings.__name__ = f"{service.capitalize()}Settings"
    return _Settings
