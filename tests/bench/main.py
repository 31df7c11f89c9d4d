"""Run every kernel benchmark once, print the comparison table, then each service over HTTP
(pharmacy dose adjustments, tests/bench/http_pharmacy.py; therapy session completions,
tests/bench/http_therapy.py) and their tables; clean up.

Reads ``CARECOORD_PG_URL`` and ``CARECOORD_KAFKA_BOOTSTRAP_SERVERS`` (deploy/local/run_bench.py
sets them from the local stack). Everything it creates (schemas ``bench_<run>_*``, topics
``bench<run>.*``, service processes) is removed at the end, also after a failure. It writes no
files. ``--only kernel|http`` runs one part, ``--skip-http`` the kernel part alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import sys
import time
from collections.abc import Sequence

from aiokafka.admin import AIOKafkaAdminClient

from shared.kafka.security import client_security
from shared.telemetry import TelemetryConfig, setup_tracing
from tests.bench import flag_latency, http_pharmacy, http_therapy, measures
from tests.bench.appends import bench_appends
from tests.bench.common import (
    BenchEnv,
    Comparison,
    Sizes,
    drop_schemas,
    new_run_id,
    progress,
)
from tests.bench.coordination import bench_coordination
from tests.bench.http_pharmacy import Bench, HttpSizes, render
from tests.bench.projection import bench_projection
from tests.bench.relay import bench_relay

PARTS = ("ours", "raw", "es", "relay", "proj", "coord")
HTTP_BENCHES: tuple[Bench, ...] = (http_pharmacy.bench_http, http_therapy.bench_http)


def table(rows: Sequence[Comparison]) -> str:
    head = ["metric", "ours ev/s", "baseline", "baseline ev/s", "ours/baseline", "target", "met"]
    body = []
    for c in rows:
        met = "" if c.meets is None else ("yes" if c.meets else "NO")
        body.append([c.metric, f"{c.ours_median:,.0f}", c.baseline_name,
                     f"{c.baseline_median:,.0f}", f"{c.ratio:.2f}", c.target, met])
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    right = {1, 3, 4}

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.rjust(w) if i in right else c.ljust(w)
                                 for i, (c, w) in enumerate(zip(cells, widths, strict=True))) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if i in right else "-" * (w + 2)
                          for i, w in enumerate(widths)) + "|"
    return "\n".join([line(head), rule, *(line(r) for r in body)])


def spread(rows: Sequence[Comparison]) -> str:
    out = []
    for c in rows:
        ours = ", ".join(f"{v:,.0f}" for v in c.ours)
        base = ", ".join(f"{v:,.0f}" for v in c.baseline)
        out.append(f"  {c.metric}: ours [{ours}]  {c.baseline_name} [{base}]")
    return "\n".join(out)


async def delete_topics(bootstrap: str, prefix: str) -> None:
    """The run's topics; the broker drops the bench groups' offsets with them."""
    admin = AIOKafkaAdminClient(**client_security(), bootstrap_servers=bootstrap)
    await admin.start()
    try:
        mine = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()


async def run(sizes: Sizes, run_id: str) -> list[Comparison]:
    env = BenchEnv(pg_url=os.environ["CARECOORD_PG_URL"],
                   kafka=os.environ["CARECOORD_KAFKA_BOOTSTRAP_SERVERS"],
                   run_id=run_id, sizes=sizes)
    progress(f"run {env.run_id}: {sizes.rounds} rounds per metric, median reported; "
             f"schemas {env.schema('*')}, topics {env.topic('*')}")
    setup_tracing(TelemetryConfig(service_name="bench"))  # as every service's lifespan does
    rows: list[Comparison] = []
    try:
        rows += await bench_appends(env)
        rows += await bench_relay(env)
        rows += await bench_projection(env)
        rows += await bench_coordination(env)
    finally:
        progress("cleaning up schemas and topics")
        with contextlib.suppress(Exception):
            await drop_schemas(env.pg_url, [env.schema(p) for p in PARTS])
        with contextlib.suppress(Exception):
            await delete_topics(env.kafka, env.topic(""))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smaller run (about a quarter)")
    parser.add_argument("--only", choices=["kernel", "http", "measures"], help="run one part only")
    parser.add_argument("--skip-http", action="store_true", help="skip the services-over-HTTP parts")
    args = parser.parse_args(argv)
    sizes = Sizes.quick() if args.quick else Sizes.full()
    run_id = new_run_id()
    t0 = time.monotonic()
    missed: list[str] = []
    if args.only in (None, "kernel"):
        load_before = os.getloadavg()[0]
        rows = asyncio.run(run(sizes, run_id))
        print()
        print(f"carecoord kernel throughput ({'quick' if args.quick else 'full'} run, "
              f"median of {sizes.rounds} interleaved rounds; {os.cpu_count()} CPUs, "
              f"Python {platform.python_version()}; load average {load_before:.1f} before, "
              f"{os.getloadavg()[0]:.1f} after)")
        print()
        print(table(rows))
        print()
        print("rounds:")
        print(spread(rows))
        missed = [c.metric for c in rows if c.meets is False]
    http_parts = HTTP_BENCHES if args.only in (None, "http") and not args.skip_http else ()
    for bench in http_parts:
        load_before = os.getloadavg()[0]
        # A run id of its own: the previous part's topics are being deleted and cannot be made again at once.
        report = asyncio.run(bench(HttpSizes.quick() if args.quick else HttpSizes.full(), new_run_id(), "raw"))
        print()
        print(f"{render(report)}\n  load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    if args.only in (None, "http") and not args.skip_http:
        load_before = os.getloadavg()[0]
        latency = asyncio.run(flag_latency.bench_flag_latency(seconds=8.0 if args.quick else 20.0))
        print()
        print(f"{flag_latency.render(latency)}\n  load average {load_before:.1f} before, "
              f"{os.getloadavg()[0]:.1f} after")
    if args.only in (None, "measures"):
        print()
        print(measures.render(measures.bench_measures(rounds=1 if args.quick else 3)))
        end_to_end = asyncio.run(measures.bench_end_to_end(os.environ["CARECOORD_PG_URL"], new_run_id(),
                                                           rounds=1 if args.quick else 3))
        print(measures.render_end_to_end(end_to_end))
    print()
    print(f"finished in {time.monotonic() - t0:.0f} s; "
          + (f"targets missed: {', '.join(missed)}" if missed else "all targets met"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
