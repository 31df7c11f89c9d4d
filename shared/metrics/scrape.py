"""What a scrape of ``/metrics`` reads from the running service, at scrape time.

The relay, the runners and the command handlers keep plain integer counters (an addition on
their hot paths, nothing more); the outbox backlog and the age of its oldest unsent row come
from one indexed query (the ``outbox_unsent`` partial index); consumer lag is what the runner
reports to ``/ready`` anyway. A source that cannot be read (the database away, the broker
frozen) is left out of this scrape and ``carecoord_metrics_source_up`` says so, rather than
failing the whole scrape.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import fields, is_dataclass
from typing import Any

import asyncpg
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from shared.handler import CommandHandler

# Seconds; Prometheus's default scrape timeout is 10. A runner's report bounds its own lag
# query (3 s) and then answers without lag, so the consumers get longer than the outbox.
OUTBOX_TIMEOUT = 2.0
CONSUMERS_TIMEOUT = 5.0

_OUTBOX = """
SELECT
  (SELECT count(*) FROM outbox WHERE sent_at IS NULL AND parked_at IS NULL) AS backlog,
  (SELECT count(*) FROM outbox WHERE parked_at IS NOT NULL) AS parked,
  (SELECT EXTRACT(EPOCH FROM clock_timestamp() - e.recorded_at)
     FROM outbox o JOIN events e ON e.global_position = o.global_position
    WHERE o.sent_at IS NULL AND o.parked_at IS NULL ORDER BY o.id LIMIT 1) AS oldest_age
"""


class Scrape(Collector):
    """The app's own instruments plus what was read for this one scrape."""

    def __init__(self, registry: Collector, families: Iterable[Metric]) -> None:
        self.registry = registry
        self.families = list(families)

    def collect(self) -> Iterator[Metric]:
        yield from self.registry.collect()
        yield from self.families


async def runtime_families(runtime: Any, context: Any) -> list[Metric]:
    """Every scrape-time family of a running service (``runtime``: shared.service.Runtime)."""
    up = GaugeMetricFamily("carecoord_metrics_source_up", "Whether this scrape could read the source (1) or not (0)",
                           labels=["source"])
    families: list[Metric] = [up]
    outbox = await _read(up, "outbox", outbox_families(runtime.pool), OUTBOX_TIMEOUT)
    families += outbox or []
    families += relay_families(runtime.relay)
    families += await _read(up, "consumers", consumer_families(runtime.consumers), CONSUMERS_TIMEOUT) or []
    families += cache_families(context)
    families += pool_families(runtime.pool)
    return families


async def _read(up: GaugeMetricFamily, source: str, reading: Any, timeout: float) -> list[Metric] | None:
    try:
        result: list[Metric] = await asyncio.wait_for(reading, timeout)
    except Exception:
        up.add_metric([source], 0)
        return None
    up.add_metric([source], 1)
    return result


async def outbox_families(pool: asyncpg.Pool) -> list[Metric]:
    row = await pool.fetchrow(_OUTBOX)
    assert row is not None
    backlog = GaugeMetricFamily("carecoord_outbox_backlog", "Outbox rows not yet published (parked rows excluded)",
                                value=row["backlog"])
    parked = GaugeMetricFamily("carecoord_outbox_parked", "Outbox rows the broker refused for good, parked",
                               value=row["parked"])
    age = GaugeMetricFamily("carecoord_outbox_oldest_unsent_age_seconds",
                            "Age of the oldest unpublished outbox row (0 when none waits)",
                            value=float(row["oldest_age"] or 0.0))
    return [backlog, parked, age]


def relay_families(relay: Any) -> list[Metric]:
    if relay is None:
        return []
    stats = relay.stats
    return [
        GaugeMetricFamily("carecoord_relay_leader", "1 while this instance's relay holds the outbox lead",
                          value=1 if getattr(relay, "leading", False) else 0),
        CounterMetricFamily("carecoord_relay_published", "Events the relay published and marked sent",
                            value=stats.published),
        CounterMetricFamily("carecoord_relay_parked", "Events the broker refused for good, parked",
                            value=stats.parked),
        CounterMetricFamily("carecoord_relay_failures", "Relay batches or sessions that failed and were retried",
                            value=stats.failures),
    ]


async def consumer_families(consumers: Iterable[Any]) -> list[Metric]:
    lag = GaugeMetricFamily("carecoord_consumer_lag", "Records not yet processed, per group, topic and partition",
                            labels=["group", "topic", "partition"])
    ready = GaugeMetricFamily("carecoord_consumer_ready", "1 while the consumer is alive and not stuck",
                              labels=["projection", "group"])
    last = GaugeMetricFamily("carecoord_consumer_last_batch_timestamp_seconds",
                             "Unix time of the consumer's last committed batch", labels=["projection", "group"])
    held = GaugeMetricFamily("carecoord_projection_events_held_back",
                             "Events parked behind a gap in their stream", labels=["projection"])
    applied = CounterMetricFamily("carecoord_projection_events_applied", "Events applied to the read model",
                                  labels=["projection"])
    dead = CounterMetricFamily("carecoord_projection_events_dead_lettered",
                               "Events sent to the dead-letter topic", labels=["projection"])
    reports = await asyncio.gather(*(consumer.report() for consumer in consumers))
    for report in reports:
        for key, value in sorted(report.lag_by_partition.items()):
            topic, _, partition = key.rpartition("/")
            lag.add_metric([report.group, topic, partition], value)
        ready.add_metric([report.projection, report.group], 1 if report.ready else 0)
        if report.last_batch_at is not None:
            last.add_metric([report.projection, report.group], report.last_batch_at.timestamp())
        held.add_metric([report.projection], report.held_back)
        applied.add_metric([report.projection], report.applied)
        dead.add_metric([report.projection], report.dead_lettered)
    return [lag, ready, last, held, applied, dead]


def cache_families(context: Any) -> list[Metric]:
    """State-cache hits and misses of each command handler in the service's context, by the
    context's name for it (``courses``, ``episodes``): the hit ratio is hits / (hits + misses)."""
    hits = CounterMetricFamily("carecoord_state_cache_hits", "Command loads that started from a cached state",
                               labels=["cache"])
    misses = CounterMetricFamily("carecoord_state_cache_misses", "Command loads that folded the stream from its start",
                                 labels=["cache"])
    entries = GaugeMetricFamily("carecoord_state_cache_entries", "Folded states held", labels=["cache"])
    for name, handler in command_handlers(context):
        hits.add_metric([name], handler.cache.hits)
        misses.add_metric([name], handler.cache.misses)
        entries.add_metric([name], len(handler.cache))
    return [hits, misses, entries]


def command_handlers(context: Any) -> list[tuple[str, CommandHandler[Any, Any]]]:
    if context is None or not is_dataclass(context):
        return []
    found = []
    for f in fields(context):
        value = getattr(context, f.name, None)
        if isinstance(value, CommandHandler):
            found.append((f.name, value))
    return found


def pool_families(pool: asyncpg.Pool) -> list[Metric]:
    families: list[Metric] = []
    with contextlib.suppress(Exception):  # a closing pool has no size to tell
        size, idle = pool.get_size(), pool.get_idle_size()
        families += [
            GaugeMetricFamily("carecoord_db_pool_connections_in_use", "Database connections checked out",
                              value=size - idle),
            GaugeMetricFamily("carecoord_db_pool_connections", "Database connections open", value=size),
            GaugeMetricFamily("carecoord_db_pool_max_connections", "The pool's limit", value=pool.get_max_size()),
        ]
    return families
