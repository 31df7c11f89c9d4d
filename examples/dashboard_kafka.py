"""A dashboard following carecoord's risk flags on Kafka.

    python examples/dashboard_kafka.py --bootstrap 127.0.0.1:9092 --clinic clinic-a [--group my-dashboard]

It reads ``carecoord.coordination.flags.v1`` (RiskFlagRaised, RiskFlagAcknowledged,
RiskFlagResolved), keeps the changes of the given clinics and prints them. Records are
CloudEvents in Kafka's binary mode: the value is the payload's JSON, the attributes are
``ce_*`` headers (``ce_type``, ``ce_id``, ``ce_time``, ``ce_clinicid`` …, see
docs/asyncapi.yaml), the key is the patient id, so one patient's changes arrive in order.

Delivery is at least once: a change may come twice, with the same ``ce_id``; skip what was
seen. A flag's id is stable, so keep the latest state per ``flag_id``. With ``--group`` the
consumer group remembers its place across restarts; without, it starts at the end (or, with
``--from-beginning``, replays the topic's whole history: it is never deleted).
Needs aiokafka only: copy the file and start from :func:`follow_flags`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from collections import OrderedDict
from collections.abc import AsyncGenerator, Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord

TOPIC = "carecoord.coordination.flags.v1"
REMEMBERED_IDS = 100_000  # event ids kept to drop redeliveries


@dataclass(frozen=True)
class FlagChange:
    event_id: str  # ce_id
    name: str  # RiskFlagRaised, RiskFlagAcknowledged, RiskFlagResolved
    version: int
    clinic_id: str
    patient_id: str
    time: str  # when it happened (event time), ISO 8601
    payload: dict[str, Any]


def flag_change(record: ConsumerRecord) -> FlagChange | None:
    """The change a record carries; None for one that is not a carecoord CloudEvent."""
    headers = {k: v.decode("utf-8", "replace") for k, v in record.headers or () if v is not None}
    parts = headers.get("ce_type", "").split(".")  # carecoord.coordination.RiskFlagRaised.v1
    if headers.get("ce_specversion") != "1.0" or len(parts) != 4 or "ce_clinicid" not in headers:
        return None
    try:
        payload = json.loads(record.value or b"")
    except ValueError:
        return None
    return FlagChange(event_id=headers.get("ce_id", ""), name=parts[2], version=int(parts[3].lstrip("v") or 0),
                      clinic_id=headers["ce_clinicid"], patient_id=headers.get("ce_subject", ""),
                      time=headers.get("ce_time", ""), payload=payload)


def sasl_options() -> dict[str, str]:
    """SCRAM credentials from CARECOORD_KAFKA_USERNAME / CARECOORD_KAFKA_PASSWORD (the broker
    refuses anonymous clients; a dashboard's user may read the flags topic and nothing else)."""
    username = os.environ.get("CARECOORD_KAFKA_USERNAME")
    if not username:
        return {}
    return {"security_protocol": os.environ.get("CARECOORD_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT"),
            "sasl_mechanism": os.environ.get("CARECOORD_KAFKA_SASL_MECHANISM", "SCRAM-SHA-256"),
            "sasl_plain_username": username, "sasl_plain_password": os.environ.get("CARECOORD_KAFKA_PASSWORD", "")}


async def follow_flags(bootstrap: str, clinics: Iterable[str], *, topic: str = TOPIC, group_id: str | None = None,
                       from_beginning: bool = False) -> AsyncGenerator[FlagChange, None]:
    """The flag changes of ``clinics``, for as long as it is iterated."""
    wanted = frozenset(clinics)
    seen: OrderedDict[str, None] = OrderedDict()
    consumer = AIOKafkaConsumer(topic, **sasl_options(), bootstrap_servers=bootstrap, group_id=group_id,
                                auto_offset_reset="earliest" if from_beginning else "latest",
                                enable_auto_commit=group_id is not None, isolation_level="read_committed")
    await consumer.start()
    try:
        async for record in consumer:
            change = flag_change(record)
            if change is None or change.clinic_id not in wanted or change.event_id in seen:
                continue
            seen[change.event_id] = None
            if len(seen) > REMEMBERED_IDS:
                seen.popitem(last=False)
            yield change
    finally:
        await consumer.stop()


def describe(change: FlagChange) -> str:
    p = change.payload
    return (f"{change.time} {change.name:<20} {p.get('severity', '?'):<7} {p.get('rule_id', '?')} "
            f"flag={p.get('flag_id')} patient={change.patient_id} clinic={change.clinic_id}")


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print carecoord's flag changes as they happen (Kafka).")
    parser.add_argument("--bootstrap", default=os.environ.get("CARECOORD_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"))
    parser.add_argument("--clinic", dest="clinics", action="append", required=True, help="repeatable")
    parser.add_argument("--group", default=None, help="a consumer group, to carry on where the last run stopped")
    parser.add_argument("--from-beginning", action="store_true", help="replay the topic's whole history")
    parser.add_argument("--topic", default=TOPIC)
    args = parser.parse_args(argv)
    async with contextlib.aclosing(follow_flags(args.bootstrap, args.clinics, topic=args.topic, group_id=args.group,
                                                from_beginning=args.from_beginning)) as changes:
        async for change in changes:
            print(describe(change), flush=True)
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(asyncio.run(main()))
