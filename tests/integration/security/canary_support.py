"""Canary identity strings and the places they must not reach: what the canary test plants
and scans. Not a test module (no ``test_`` prefix)."""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.kafka.security import client_security
from shared.telemetry.logs import JsonFormatter

# Issue 14 item 8 is done: pharmacy's reasons, override, effect and indication are codes, the
# drug's name the formulary's, and the words beside them notes in pharmacy's database; no
# pharmacy field is excused any more, so this set is empty and the test is the full check.
ITEM_8_FIELDS: frozenset[str] = frozenset()
# Staff identifiers: the therapist of an episode, the attendees of a case conference. They name
# staff, not patients, and travel on events by design, like the actor of every command; yet the
# APIs take any string there, so a patient's name typed in would reach Kafka too. Held to the
# same rule as item 8's fields: on an event at the same field, nowhere else.
STAFF_ID_FIELDS = frozenset({"therapist_id", "attendees"})

# String fields a valid request must fill with a valid value (an identifier, a code, a unit),
# by path or by name; a canary in them is planted only by the requests meant to fail.
CODED = frozenset({"clinic_id", "unit", "route", "drug.code", "drug.system", "instrument", "language",
                   "indication.code", "indication.system"})


def coded(path: str) -> bool:
    return path in CODED or path.rsplit(".", 1)[-1] in CODED


@dataclass
class Canaries:
    """Unique random markers, each remembering the field it was planted in."""

    planted: dict[str, str] = field(default_factory=dict)  # marker → where it was planted

    def new(self, where: str) -> str:
        # letters and digits only: the same bytes in JSON, headers, URLs and log lines
        marker = f"zqx{secrets.token_hex(8)}"
        self.planted[marker] = where
        return marker

    def found_in(self, text: str) -> list[str]:
        lowered = text.lower()
        return [marker for marker in self.planted if marker in lowered]


def free_text_fields(schema: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """(dotted path, schema) of every string property of a resolved object schema that takes
    any text: no enum, no format, no pattern. Arrays of such strings count too."""
    for name, prop in schema.get("properties", {}).items():
        path = f"{prefix}{name}"
        options = [o for o in prop.get("anyOf", [prop]) if o.get("type") != "null"]
        for option in options:
            kind = option.get("type")
            if kind == "object":
                yield from free_text_fields(option, f"{path}.")
            elif kind == "string" and not {"enum", "format", "pattern", "const"} & set(option):
                yield path, option
            elif kind == "array" and _is_free_text(option.get("items", {})):
                yield path, option


def _is_free_text(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "string" and not {"enum", "format", "pattern", "const"} & set(schema)


def put(body: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for name in parents:
        body = body.setdefault(name, {})
    body[leaf] = value


def present(body: dict[str, Any], path: str) -> bool:
    for name in path.split(".")[:-1]:
        inner = body.get(name)
        if not isinstance(inner, dict):
            return False
        body = inner
    return True


def positions(value: Any, marker: str, path: str = "") -> list[str]:
    """Dotted paths of the JSON string leaves (and keys) holding ``marker``."""
    found = []
    if isinstance(value, dict):
        for key, inner in value.items():
            where = f"{path}.{key}" if path else str(key)
            if marker in str(key).lower():
                found.append(f"{where} (a key)")
            found += positions(inner, marker, where)
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += positions(inner, marker, f"{path}[{index}]")
    elif isinstance(value, str) and marker in value.lower():
        found.append(path)
    return found


def allowed_on_kafka(planted_at: str, position: str) -> bool:
    """A canary of an item-8 or staff-id field at a field of the same name on an event
    (``drug.name`` under ``drug``, ``attendees[0]`` in ``attendees``)."""
    field_name = planted_at.rsplit(" ", 1)[-1]  # "pharmacy POST ... drug.name" → "drug.name"
    if field_name not in ITEM_8_FIELDS | STAFF_ID_FIELDS:
        return False
    position = re.sub(r"\[\d+\]$", "", position)
    return position == field_name or position.endswith(f".{field_name}")


class LogLines(logging.Handler):
    """Every log line as the services write it (their JSON formatter), from the root logger."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(JsonFormatter("captured"))

    def emit(self, record: logging.LogRecord) -> None:
        # The test's own HTTP client logs the URLs it calls; the services use no httpx.
        if record.name.startswith(("httpx", "httpcore")):
            return
        self.lines.append(self.format(record))


@dataclass(frozen=True)
class Record:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]

    def value_json(self) -> Any:
        try:
            return json.loads(self.value) if self.value else None
        except ValueError:
            return None


async def every_record(bootstrap: str, prefix: str) -> tuple[list[Record], list[str]]:
    """Every record of every topic whose name starts with ``prefix`` (up to the end offsets as
    they are now), and those topics."""
    admin = AIOKafkaAdminClient(**client_security(), bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = sorted(t for t in await admin.list_topics() if t.startswith(prefix))
        described = await admin.describe_topics(topics)
        partitions = [TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"]]
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(**client_security(), bootstrap_servers=bootstrap, enable_auto_commit=False,
                                group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    records: list[Record] = []
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        remaining = {tp for tp, end in ends.items() if end > 0}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, recs in batch.items():
                records += [Record(tp.topic, r.key, r.value, tuple((k, v) for k, v in r.headers)) for r in recs]
            # the position, not the last record: a control record may end a partition
            remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()
    return records, topics
