"""``make bench-scale``: how cost grows — append rate by store size, cold-cache command latency
by stream length, projection and replay by coordination instances, memory of the services and
of the state cache at its bound. Prints one table.

Reads the local stack's environment (deploy/local/run_bench_scale.py sets it). Everything it
creates (schemas ``bench_<run>_*``, topics ``bench<run>.*``, service processes) is removed at
the end, also after a failure. ``--quick``: small sizes (about 3 minutes); ``--max-events``:
the largest store to fill (default 10,000,000; 1000000 stops at 1M); ``--only``: one part.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg

from services.pharmacy.formulary import load_formulary
from shared.db import plain_dsn
from shared.migrations import upgrade
from tests.bench.common import BenchEnv, new_run_id, progress
from tests.bench.http_pharmacy import cleanup, service_env
from tests.bench.scale import cold, instances, memory, serving, store
from tests.bench.scale.rows import CourseTemplate, k, percentile

PARTS = ("store", "cold", "instances", "cache")
FULL_SIZES = (10_000, 1_000_000, 10_000_000)
QUICK_SIZES = (10_000, 100_000)
COURSE_LENGTH = 10  # events per course in the filled store
SERVING_AT = 1_000_000  # pharmacy's RSS is taken at the largest store size up to this


@dataclass
class Report:
    run_id: str
    quick: bool
    sizes: list[int] = field(default_factory=list)  # store sizes that ran
    appends: list[store.AppendLine] = field(default_factory=list)
    serving: serving.ServingMemory | None = None
    cold: list[cold.ColdLine] = field(default_factory=list)
    instances: list[instances.InstancesLine] = field(default_factory=list)
    caches: list[memory.CacheFootprint] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


# --------------------------------------------------------------------------- parts


async def store_part(report: Report, sizes: Sequence[int]) -> None:
    run_id = report.run_id
    env = service_env(run_id, ("pharmacy", "assessment", "therapy"))
    env["CARECOORD_RATE_LIMIT_PER_SECOND"] = "0"  # capacity and memory, not the limiter, are measured
    dsn = env["CARECOORD_PHARMACY_DATABASE_URL"]
    schema = f"bench_{run_id}_pharmacy"
    topic = f"bench{run_id}.carecoord.pharmacy.events.v1"
    await upgrade(dsn, schema, "pharmacy")
    template = CourseTemplate.make(COURSE_LENGTH, load_formulary())
    base = store.append_sizes(report.quick)
    bench_env = BenchEnv(pg_url=dsn, kafka=env["CARECOORD_KAFKA_BOOTSTRAP_SERVERS"], run_id=run_id, sizes=base)
    pool, events = await store.open_store(dsn, schema, topic)
    courses = 0
    serving_size = max((s for s in sizes if s <= SERVING_AT), default=None)
    try:
        for size in sizes:
            stored = int(await pool.fetchval("SELECT count(*) FROM events"))
            fill = None
            if stored < size:
                add = -(-(size - stored) // COURSE_LENGTH)
                progress(f"store: filling {add * COURSE_LENGTH:,} events ({add:,} courses) by COPY")
                fill = await store.fill(dsn, schema, template, courses, add, topic)
                courses += add
                progress(f"store: {fill.rows:,} rows: copy {fill.copy_seconds:.0f} s "
                         f"({fill.rows / fill.copy_seconds:,.0f} rows/s), outbox {fill.outbox_seconds:.0f} s, "
                         f"indexes {fill.index_seconds:.0f} s")
                stored = int(await pool.fetchval("SELECT count(*) FROM events"))
            single, batch = await store.append_rates(bench_env, events, f"{size // 1000}k")
            report.appends.append(store.AppendLine(stored, single, batch, fill))
            report.sizes.append(size)
            if size == serving_size:
                report.serving = await serving.measure(
                    env, schema, int(await pool.fetchval("SELECT count(*) FROM events")),
                    courses=min(courses, serving.CACHE_BOUND + serving.CACHE_BOUND // 5),
                    seconds=15.0 if report.quick else 120.0)
    finally:
        await pool.close()
        await cleanup(env, run_id, ("pharmacy", "assessment", "therapy"))


async def cold_part(report: Report) -> None:
    env = service_env(report.run_id, ())
    dsn = env["CARECOORD_PHARMACY_DATABASE_URL"]
    schema = f"bench_{report.run_id}_cold"
    await upgrade(dsn, schema, "pharmacy")
    pool, events = await store.open_store(dsn, schema, f"bench{report.run_id}.cold")
    try:
        sizes = cold.ColdSizes.quick() if report.quick else cold.ColdSizes.full()
        report.cold = await cold.measure(events, sizes, first_course=0)
    finally:
        await pool.close()
        conn = await asyncpg.connect(plain_dsn(dsn))
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()


# --------------------------------------------------------------------------- the table


def mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def rows(report: Report) -> list[tuple[str, str, str, str]]:
    """(measure, at, value, detail), one per line of the table."""
    out: list[tuple[str, str, str, str]] = []
    for a in report.appends:
        at = f"{k(a.stored)} events stored"
        out.append(("append 1 event (4 writers)", at, f"{store.median(a.single):,.0f} ev/s",
                    "rounds " + ", ".join(f"{v:,.0f}" for v in a.single)))
        out.append(("append 100 events (4 writers)", at, f"{store.median(a.batch):,.0f} ev/s",
                    "rounds " + ", ".join(f"{v:,.0f}" for v in a.batch)))
    for c in report.cold:
        out.append(("dose adjustment, cold cache: p50 / p99", f"stream of {k(c.length)} events",
                    f"{c.p(c.command_ms, 50):,.1f} / {c.p(c.command_ms, 99):,.1f} ms",
                    f"{len(c.command_ms)} commands on {c.streams} streams; read {statistics.median(c.read_ms):,.1f}, "
                    f"decode {statistics.median(c.decode_ms):,.1f}, fold {statistics.median(c.fold_ms):,.1f} ms"))
    for i in report.instances:
        cpu = " + ".join(f"{v * 100:.0f}%" for v in i.instance_cpu)
        out.append(("projection into timeline + summary", f"{i.instances} instance{'s' if i.instances > 1 else ''}",
                    f"{i.projection_rate:,.0f} ev/s",
                    f"{i.events:,} events; instances' CPU {cpu}; machine {i.machine_busy * 100:.0f}% busy"))
        out.append(("replay (carecoord replay --verify-only)", f"--workers {i.instances}",
                    f"{i.replay_rate:,.0f} ev/s",
                    f"{i.replay_events:,} events; checksums {'equal' if i.replay_equal else 'DIFFER'}"))
    s = report.serving
    if s is not None:
        out.append(("RSS pharmacy, ready", f"{k(s.stored)} events stored", mib(s.pharmacy_ready), "before any command"))
        out.append(("RSS pharmacy, after commands", f"{k(s.stored)} events stored", mib(s.pharmacy_after),
                    f"{s.ok:,} dose adjustments on distinct courses in {s.seconds:.0f} s (so "
                    f"{min(s.ok, serving.CACHE_BOUND):,} states cached, bound {serving.CACHE_BOUND:,}); "
                    f"errors {s.errors or 'none'}"))
        out.append(("RSS assessment, ready", "empty store", mib(s.assessment_ready), "at rest"))
        out.append(("RSS therapy, ready", "empty store", mib(s.therapy_ready), "at rest"))
    for i in report.instances:
        if i.instances == 1:
            out.append(("RSS coordination, after projecting", f"{k(i.events)} events", mib(i.rss_after[0]),
                        f"{mib(i.rss_before[0])} ready, before the events"))
    for f in report.caches:
        out.append((f"state cache at its bound, {f.service}", f"{f.bound:,} states", mib(f.at_bound),
                    f"{f.per_state / 1024:,.1f} KiB a state ({f.events_per_stream:g} events a stream; "
                    f"tracemalloc over {f.sampled:,} states)"))
    return out


def table(lines: Sequence[tuple[str, str, str, str]]) -> str:
    head = ("measure", "at", "value", "detail")
    widths = [max(len(r[i]) for r in [head, *lines]) for i in range(4)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.rjust(w) if i == 2 else c.ljust(w)
                                 for i, (c, w) in enumerate(zip(cells, widths, strict=True))) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if i == 2 else "-" * (w + 2) for i, w in enumerate(widths)) + "|"
    return "\n".join([line(head), rule, *(line(r) for r in lines)])


def notes(report: Report, max_events: int) -> list[str]:
    out = []
    if report.sizes:
        skipped = [k(s) for s in FULL_SIZES if s not in report.sizes and not report.quick and s > max(report.sizes)]
        out.append(f"store sizes that ran: {', '.join(k(s) for s in report.sizes)}"
                   + (f" (not run: {', '.join(skipped)}; --max-events {max_events:,})" if skipped else ""))
    for a in report.appends:
        if a.fill is not None:
            f = a.fill
            out.append(f"fill to {k(a.stored)}: {f.rows:,} rows by binary COPY in {f.copy_seconds:.0f} s "
                       f"({f.rows / f.copy_seconds:,.0f} rows/s), sent outbox rows {f.outbox_seconds:.0f} s, "
                       f"indexes and constraints rebuilt, vacuumed and analysed {f.index_seconds:.0f} s")
    if len(report.cold) >= 2:
        first, last = report.cold[0], report.cold[-1]
        p50s = [percentile(c.command_ms, 50) for c in report.cold]
        growth = (p50s[-1] - p50s[0]) / (last.length - first.length) * 1000
        out.append(f"cold cache: p50 grows {p50s[-1] / p50s[0]:,.0f}x from {k(first.length)} to {k(last.length)} "
                   f"events, about {growth:,.1f} ms per 1,000 events (linear in the stream's length)")
        for c in report.cold:
            share = c.rebuild_ms / percentile(c.command_ms, 50) if c.command_ms else 0
            saved = c.rebuild_ms - first.rebuild_ms
            out.append(f"  {k(c.length):>5} events: read + decode + fold {c.rebuild_ms:,.1f} ms "
                       f"({share * 100:.0f}% of the p50 command); a snapshot (one row read, no fold) would save "
                       f"about {max(0.0, saved):,.1f} ms")
    return out


def render(report: Report, max_events: int, load_before: float) -> str:
    head = (f"carecoord bench-scale ({'quick' if report.quick else 'full'} run {report.run_id}; {os.cpu_count()} CPUs, "
            f"Python {platform.python_version()}; load average {load_before:.1f} before, "
            f"{os.getloadavg()[0]:.1f} after; parts: "
            + ", ".join(f"{p} {s:.0f} s" for p, s in report.seconds.items()) + ")")
    return "\n".join([head, "", table(rows(report)), "", *notes(report, max_events)])


# --------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench-scale", description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small sizes, about 3 minutes")
    parser.add_argument("--max-events", type=int, default=FULL_SIZES[-1],
                        help="largest store to fill (10000000; 1000000 stops at 1M)")
    parser.add_argument("--only", choices=PARTS, action="append", help="run this part (repeatable)")
    parser.add_argument("--history", type=int, help="events published for the instances part (default 12000)")
    parser.add_argument("--sizes", type=lambda text: [int(v) for v in text.split(",")],
                        help="store sizes to measure at, e.g. 10000000 (default 10k,1M,10M; --quick 10k,100k)")
    args = parser.parse_args(argv)
    parts = args.only or list(PARTS)
    sizes = [s for s in (args.sizes or (QUICK_SIZES if args.quick else FULL_SIZES)) if s <= args.max_events]
    report = Report(new_run_id(), args.quick)
    load_before = os.getloadavg()[0]
    progress(f"bench-scale run {report.run_id}: parts {', '.join(parts)}; store sizes {', '.join(k(s) for s in sizes)}")
    failed: list[str] = []
    try:
        for part in parts:
            t0 = time.monotonic()
            try:  # a part that fails is reported; the others still run and print
                if part == "store":
                    asyncio.run(store_part(report, sizes))
                elif part == "cold":
                    asyncio.run(cold_part(report))
                elif part == "instances":
                    report.instances = asyncio.run(instances.measure(
                        args.history or (2_000 if args.quick else 12_000), (1, 2) if args.quick else (1, 2, 3)))
                elif part == "cache":
                    report.caches = memory.cache_footprints(100 if args.quick else 500)
            except Exception as exc:
                failed.append(f"{part}: {type(exc).__name__}: {str(exc)[:300]}")
                progress(f"part {part} failed: {exc!r}")
            report.seconds[part] = time.monotonic() - t0
    finally:
        with contextlib.suppress(Exception):
            asyncio.run(cleanup(service_env(report.run_id, ()), report.run_id, ("pharmacy", "assessment", "therapy")))
    print()
    print(render(report, args.max_events, load_before))
    for line in failed:
        print(f"FAILED {line}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
