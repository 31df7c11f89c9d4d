"""``carecoord dlq replay --topic T [--group G]``: put dead letters back through their
projection once the cause is fixed.

Each record of ``<T>.dlq`` (only those a consumer group ``G`` set aside, with ``--group``)
is re-published to ``T`` with its original key, value and headers, the ``dlq_*`` headers
removed. Re-publishing is safe: every projection skips an event id it has applied, so only
the groups that dead-lettered it apply it now, and, the event being the next of its stream,
whatever was held back behind it follows. The command keeps its place in the dead-letter
topic with a consumer group of its own (one per ``--group``), so running it twice does not
re-publish twice; it needs only the Kafka bootstrap servers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from shared.kafka.clients import make_producer
from shared.kafka.security import client_security
from shared.projection.deadletter import DLQ_HEADER_PREFIX

REPLAY_GROUP = "carecoord-dlq-replay"
BOOTSTRAP_ENV = "CARECOORD_KAFKA_BOOTSTRAP_SERVERS"
DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
PROGRESS_EVERY = 1000


@dataclass
class ReplayResult:
    read: int = 0  # dead letters read this run
    republished: int = 0  # of those, put back on the source topic
    other_groups: int = 0  # of those, set aside by another group (left alone with --group)


def replay_group(group: str | None) -> str:
    """The command's own consumer group: one per filter, so a run for one group does not
    move past (and so never replay) another group's dead letters."""
    return f"{REPLAY_GROUP}.{group}" if group else REPLAY_GROUP


def _header(record: ConsumerRecord, name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name and value is not None:
            return bytes(value).decode("utf-8", "replace")
    return None


def original_headers(record: ConsumerRecord) -> list[tuple[str, bytes]]:
    return [(k, v) for k, v in record.headers or () if not k.startswith(DLQ_HEADER_PREFIX)]


async def replay(bootstrap: str, topic: str, group: str | None = None,
                 progress: Callable[[ReplayResult], None] | None = None) -> ReplayResult:
    """Re-publish the dead letters of ``topic`` not replayed before; see the module doc."""
    dlq = f"{topic}.dlq"
    result = ReplayResult()
    consumer = AIOKafkaConsumer(**client_security(), bootstrap_servers=bootstrap, group_id=replay_group(group),
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                isolation_level="read_committed")
    producer = make_producer(bootstrap)
    await consumer.start()
    await producer.start()
    try:
        if dlq not in await consumer.topics():
            return result  # no dead-letter topic: nothing was ever set aside
        tps = [TopicPartition(dlq, p) for p in sorted(await producer.partitions_for(dlq))]
        consumer.assign(tps)
        for tp in tps:
            committed = await consumer.committed(tp)
            if committed is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, committed)
        # What is there now; letters dead-lettered while this runs wait for the next run.
        end = await consumer.end_offsets(tps)
        remaining = {tp for tp in tps if await consumer.position(tp) < end[tp]}
        while remaining:
            fetched = await consumer.getmany(*remaining, timeout_ms=500, max_records=500)
            sent: list[Any] = []
            offsets: dict[TopicPartition, int] = {}
            for tp, records in fetched.items():
                for record in records:
                    if record.offset >= end[tp]:
                        break
                    result.read += 1
                    offsets[tp] = record.offset + 1
                    if group is not None and _header(record, "dlq_consumer_group") != group:
                        result.other_groups += 1
                        continue
                    sent.append(await producer.send(topic, value=record.value, key=record.key,
                                                    headers=original_headers(record)))
            await asyncio.gather(*sent)  # every one acknowledged before the place is kept
            result.republished += len(sent)
            if offsets:
                await consumer.commit(offsets)
            remaining = {tp for tp in remaining if await consumer.position(tp) < end[tp]}
            if progress is not None and sent:
                progress(result)
        return result
    finally:
        await producer.stop()
        await consumer.stop()


def add_dlq_parser(sub: Any) -> None:
    dlq = sub.add_parser("dlq", help="dead-letter topics")
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True)
    rep = dlq_sub.add_parser("replay", help="put dead-lettered messages back through their projection",
                             description=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    rep.add_argument("--topic", required=True, help="the source topic, e.g. carecoord.assessment.events.v1")
    rep.add_argument("--group", default=None,
                     help="only the messages this consumer group dead-lettered (default: all)")
    rep.add_argument("--bootstrap", default=os.environ.get(BOOTSTRAP_ENV, DEFAULT_BOOTSTRAP),
                     help=f"Kafka bootstrap servers (default: ${BOOTSTRAP_ENV} or {DEFAULT_BOOTSTRAP})")
    rep.set_defaults(func=_replay)


def _replay(args: argparse.Namespace) -> int:
    last = [0]

    def progress(result: ReplayResult) -> None:
        if result.read - last[0] >= PROGRESS_EVERY:
            last[0] = result.read
            print(f"... {result.read} read, {result.republished} re-published", file=sys.stderr)

    result = asyncio.run(replay(args.bootstrap, args.topic, args.group, progress))
    skipped = f" ({result.other_groups} of other groups left alone)" if args.group else ""
    print(f"re-published {result.republished} of {result.read} dead letters from {args.topic}.dlq "
          f"to {args.topic}{skipped}")
    return 0
