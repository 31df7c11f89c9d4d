"""The coordination read models as SQLAlchemy Core tables (the DDL is in migrations/versions/).

Constraint and index names are explicit so that code and migrations refer to them by name
(``ON CONFLICT ON CONSTRAINT …``) and an Alembic autogenerate finds nothing to rename.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

metadata = MetaData()

timeline_entries = Table(
    "timeline_entries",
    metadata,
    Column("event_id", UUID(as_uuid=True), nullable=False),
    Column("patient_id", Text, nullable=False),
    Column("clinic_id", Text, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("service", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("stream_id", Text, nullable=False),
    Column("sequence", BigInteger, nullable=False),
    Column("summary", Text, nullable=False),
    Column("data", JSONB, nullable=False),
    PrimaryKeyConstraint("event_id", name="timeline_entries_pkey"),
    # Two events claiming one stream position is an upstream defect: the second is poison.
    UniqueConstraint("service", "stream_id", "sequence", name="timeline_entries_stream_position_key"),
    CheckConstraint("sequence >= 0", name="timeline_entries_sequence_check"),
    # The timeline's order and keyset cursor: (occurred_at, recorded_at, event_id) per patient.
    Index("timeline_entries_patient_order", "patient_id", "occurred_at", "recorded_at", "event_id"),
)

patient_summaries = Table(
    "patient_summaries",
    metadata,
    Column("patient_id", Text, nullable=False),
    Column("clinic_id", Text, nullable=False),
    Column("enrolled_at", DateTime(timezone=True)),
    Column("event_count", Integer, nullable=False),
    Column("last_event_at", DateTime(timezone=True)),
    Column("state", JSONB, nullable=False),
    PrimaryKeyConstraint("patient_id", name="patient_summaries_pkey"),
)
