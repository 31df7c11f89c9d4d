"""The coordination read models as SQLAlchemy Core tables (the DDL is in migrations/versions/).

Constraint and index names are explicit so that code and migrations refer to them by name
(``ON CONFLICT ON CONSTRAINT …``) and an Alembic autogenerate finds nothing to rename.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Computed,
    DateTime,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

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

SEVERITY_RANK = "CASE severity WHEN 'urgent' THEN 3 WHEN 'high' THEN 2 WHEN 'warning' THEN 1 ELSE 0 END"

flags = Table(
    "flags",
    metadata,
    Column("flag_id", Text, nullable=False),
    Column("rule_id", Text, nullable=False),
    Column("rule_version", Text, nullable=False),
    Column("patient_id", Text, nullable=False),
    Column("clinic_id", Text, nullable=False),
    Column("severity", Text, nullable=False),
    # The worklist's order (most severe first), a column its index and cursor can use.
    Column("severity_rank", SmallInteger, Computed(SEVERITY_RANK, persisted=True)),
    Column("status", Text, nullable=False),
    Column("raised_at", DateTime(timezone=True), nullable=False),
    Column("acknowledged_at", DateTime(timezone=True)),
    Column("acknowledged_by", Text),
    Column("ack_reason", Text),
    Column("resolved_at", DateTime(timezone=True)),
    Column("withdrawn", Boolean, nullable=False, server_default=text("false")),
    Column("thresholds", JSONB, nullable=False),
    Column("evidence", JSONB, nullable=False),
    Column("explanation", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    PrimaryKeyConstraint("flag_id", name="flags_pkey"),
    CheckConstraint("severity IN ('info', 'warning', 'high', 'urgent')", name="flags_severity_check"),
    CheckConstraint("status IN ('open', 'acknowledged', 'resolved')", name="flags_status_check"),
    CheckConstraint("(status = 'resolved') = (resolved_at IS NOT NULL)", name="flags_resolved_at_check"),
    CheckConstraint("status <> 'acknowledged' OR acknowledged_at IS NOT NULL", name="flags_acknowledged_at_check"),
    Index("flags_patient", "patient_id", "raised_at"),
    Index("flags_worklist", "clinic_id", text("severity_rank DESC"), "raised_at", "flag_id"),
)

# Every change of a flag, in commit order per clinic: what dashboards follow (the flag as the
# API shows it after the change).
flag_changes = Table(
    "flag_changes",
    metadata,
    Column("change_id", BigInteger, Identity(always=True), nullable=False),
    Column("flag_id", Text, nullable=False),
    Column("patient_id", Text, nullable=False),
    Column("clinic_id", Text, nullable=False),
    Column("change", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("flag", JSONB, nullable=False),
    PrimaryKeyConstraint("change_id", name="flag_changes_pkey"),
    CheckConstraint("change IN ('raised', 'acknowledged', 'resolved')", name="flag_changes_change_check"),
    Index("flag_changes_clinic", "clinic_id", "change_id"),
)

# The service's own record of acknowledgements (not a read model: a rebuild keeps it). The
# note never leaves the service and is erased with the patient's identity.
flag_acknowledgements = Table(
    "flag_acknowledgements",
    metadata,
    Column("flag_id", Text, nullable=False),
    Column("patient_id", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("note", Text),
    Column("acknowledged_by", Text, nullable=False),
    Column("acknowledged_at", DateTime(timezone=True), nullable=False),
    Column("event_id", UUID(as_uuid=True), nullable=False),
    PrimaryKeyConstraint("flag_id", name="flag_acknowledgements_pkey"),
    CheckConstraint("char_length(note) <= 2000", name="flag_acknowledgements_note_check"),
    Index("flag_acknowledgements_patient", "patient_id"),
)

# Every event as published (metadata, payload and its ce_hash), for the auditors' history: the
# chain hash covers the whole payload, which the timeline's coded data does not keep.
audit_events = Table(
    "audit_events",
    metadata,
    Column("event_id", UUID(as_uuid=True), nullable=False),
    Column("patient_id", Text, nullable=False),
    Column("clinic_id", Text, nullable=False),
    Column("service", Text, nullable=False),
    Column("stream_id", Text, nullable=False),
    Column("sequence", BigInteger, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("envelope", JSONB, nullable=False),
    Column("hash", LargeBinary),
    PrimaryKeyConstraint("event_id", name="audit_events_pkey"),
    Index("audit_events_patient", "patient_id", "recorded_at", "service", "stream_id", "sequence"),
)

# FHIR Bulk Data export jobs and their NDJSON output, in parts (coordination_0004). Not read
# models: a rebuild leaves them.
fhir_export_jobs = Table(
    "fhir_export_jobs",
    metadata,
    Column("job_id", UUID(as_uuid=True), nullable=False),
    Column("staff_id", Text, nullable=False),
    Column("roles", ARRAY(Text), nullable=False),
    Column("caller_clinics", ARRAY(Text), nullable=False),
    Column("clinics", ARRAY(Text), nullable=False),
    Column("types", ARRAY(Text), nullable=False),
    Column("since", DateTime(timezone=True)),
    Column("request_url", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("transaction_time", DateTime(timezone=True)),
    Column("lease_until", DateTime(timezone=True)),
    Column("patients_total", Integer),
    Column("patients_done", Integer, nullable=False, server_default=text("0")),
    Column("completed_at", DateTime(timezone=True)),
    Column("error", Text),
    PrimaryKeyConstraint("job_id", name="fhir_export_jobs_pkey"),
    CheckConstraint("status IN ('accepted', 'running', 'completed', 'failed')", name="fhir_export_jobs_status_check"),
    # The worker's queue: jobs not yet done, oldest first.
    Index("fhir_export_jobs_pending", "created_at", postgresql_where=text("status IN ('accepted', 'running')")),
)

fhir_export_files = Table(
    "fhir_export_files",
    metadata,
    Column("job_id", UUID(as_uuid=True), nullable=False),
    Column("resource_type", Text, nullable=False),
    Column("part", Integer, nullable=False),
    Column("resource_count", Integer, nullable=False),
    Column("content", Text, nullable=False),
    Column("patients", ARRAY(Text), nullable=False),
    Column("clinics", ARRAY(Text), nullable=False),
    PrimaryKeyConstraint("job_id", "resource_type", "part", name="fhir_export_files_pkey"),
    ForeignKeyConstraint(["job_id"], ["fhir_export_jobs.job_id"], name="fhir_export_files_job_fkey",
                         ondelete="CASCADE"),
)
