"""What a dead letter carries: the original record, and why and where it was set aside
(``dlq_*`` headers, which ``carecoord dlq replay`` removes again)."""

from __future__ import annotations

from aiokafka import ConsumerRecord

from shared.envelope import UnknownEventType
from shared.errors import DomainError
from shared.kafka import headers as ce

DLQ_HEADER_PREFIX = "dlq_"


def dead_letter_headers(record: ConsumerRecord, exc: BaseException, group: str) -> list[tuple[str, bytes]]:
    return list(record.headers or []) + [
        ("dlq_error_type", type(exc).__name__.encode()),
        ("dlq_error", safe_reason(exc).encode()),
        ("dlq_source_topic", record.topic.encode()),
        ("dlq_source_partition", str(record.partition).encode()),
        ("dlq_source_offset", str(record.offset).encode()),
        ("dlq_consumer_group", group.encode()),
    ]


def safe_reason(exc: BaseException) -> str:
    """A reason fit for a header: ours are written without patient data; a library's
    message may quote input, so only its type is given."""
    if isinstance(exc, (DomainError, ce.EnvelopeDecodeError, UnknownEventType)):
        return str(exc)[:500]
    if hasattr(exc, "errors") and callable(exc.errors):  # pydantic ValidationError
        try:
            parts = [f"{'.'.join(map(str, e['loc']))}: {e['type']}" for e in exc.errors()]
            return ("invalid payload: " + "; ".join(parts))[:500]
        except Exception:
            pass
    return type(exc).__name__
