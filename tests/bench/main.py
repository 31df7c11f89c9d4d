"""``make bench``: every benchmark once, each part's table, then issue 15's goal lines side by
side with their measured ratios and whether each is met.

Parts, in order: the kernel (appends, relay, projections: tests/bench/appends.py, relay.py,
projection.py, coordination.py), each service over HTTP with 1 and 2 worker processes
(pharmacy dose adjustments, tests/bench/http_pharmacy.py; therapy session completions,
tests/bench/http_therapy.py), open-loop latency at 200, 500 and 1,000 commands/s
(tests/bench/latency.py) and the quality measures of one clinic (tests/bench/measures.py).
Command → flag latency (tests/bench/flag_latency.py, the rules' path) runs with ``--only flags``
only: the open-loop part measures command → timeline at three rates, and the whole run has to
stay within about six minutes.

Reads ``CARECOORD_PG_URL`` and ``CARECOORD_KAFKA_BOOTSTRAP_SERVERS`` (deploy/local/run_bench.py
sets them from the local stack). Everything it creates (schemas ``bench_<run>_*``, topics
``bench<run>.*``, service processes) is removed at the end, also after a failure. It writes no
files. ``--only PART`` runs one part (several: ``--only kernel http``), ``--skip-http`` leaves out
every part that serves the services over HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable, Sequence

from aiokafka.admin import AIOKafkaAdminClient

from shared.kafka.security import client_security
from shared.telemetry import TelemetryConfig, setup_tracing
from tests.bench import flag_latency, http_pharmacy, http_therapy, latency, measures
from tests.bench.appends import bench_appends
from tests.bench.common import (
    BenchEnv,
    Comparison,
    Goal,
    Sizes,
    drop_schemas,
    goals_table,
    markdown_table,
    new_run_id,
    progress,
)
from tests.bench.coordination import bench_coordination
from tests.bench.http_pharmacy import Bench, HttpSizes, render
from tests.bench.projection import bench_projection
from tests.bench.relay import bench_relay

PARTS = ("ours", "raw", "es", "relay", "proj", "coord")
HTTP_BENCHES: tuple[Bench, ...] = (http_pharmacy.bench_http, http_therapy.bench_http)
CHOICES = ("kernel", "http", "latency", "flags", "measures")
DEFAULT = ("kernel", "http", "latency", "measures")
OVER_HTTP = {"http", "latency", "flags"}
HTTP_PROCESSES = (1, 2)  # worker processes of the measured service (issue 15: the bench reports 1 and 2)


def table(rows: Sequence[Comparison]) -> str:
    head = ["metric", "ours ev/s", "baseline", "baseline ev/s", "ours/baseline", "target", "met"]
    body = [[c.metric, f"{c.ours_median:,.0f}", c.baseline_name, f"{c.baseline_median:,.0f}", f"{c.ratio:.2f}",
             c.target, "" if c.meets is None else ("yes" if c.meets else "NO")] for c in rows]
    return markdown_table(head, body, {1, 3, 4})


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


def load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def kernel_part(quick: bool, goals: list[Goal], missed: list[str]) -> None:
    sizes = Sizes.quick() if quick else Sizes.full()
    load_before = load()
    rows = asyncio.run(run(sizes, new_run_id()))
    print()
    print(f"carecoord kernel throughput ({'quick' if quick else 'full'} run, "
          f"median of {sizes.rounds} interleaved rounds; {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}; load average {load_before} before, {load()} after)")
    print()
    print(table(rows))
    print()
    print("rounds:")
    print(spread(rows))
    goals += [g for c in rows if (g := c.as_goal()) is not None]
    missed += [c.metric for c in rows if c.meets is False and c.goal is None]


def http_part(bench: Bench, quick: bool, goals: list[Goal]) -> None:
    load_before = load()
    # A run id of its own: the previous part's topics are being deleted and cannot be made again at once.
    report = asyncio.run(bench(HttpSizes.quick() if quick else HttpSizes.full(), new_run_id(), "raw", HTTP_PROCESSES))
    print()
    print(f"{render(report)}\n  load average {load_before} before, {load()} after")
    goals += http_pharmacy.goals(report)


def latency_part(quick: bool, goals: list[Goal]) -> None:
    load_before = load()
    lat = asyncio.run(latency.bench_latency(seconds=4.0 if quick else 8.0, processes=max(HTTP_PROCESSES)))
    print()
    print(f"{latency.render(lat)}\n  load average {load_before} before, {load()} after")
    goals += latency.goals(lat)


def flags_part(quick: bool) -> None:
    load_before = load()
    flags = asyncio.run(flag_latency.bench_flag_latency(seconds=5.0 if quick else 10.0))
    print()
    print(f"{flag_latency.render(flags)}\n  load average {load_before} before, {load()} after")


def measures_part(quick: bool) -> None:
    print()
    print(measures.render(measures.bench_measures(rounds=1 if quick else 3)))
    end_to_end = asyncio.run(measures.bench_end_to_end(os.environ["CARECOORD_PG_URL"], new_run_id(),
                                                       rounds=1 if quick else 3))
    print(measures.render_end_to_end(end_to_end))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smaller run (about a third of the time)")
    parser.add_argument("--only", choices=CHOICES, nargs="+", help="run these parts only")
    parser.add_argument("--skip-http", action="store_true", help="skip the parts that serve the services over HTTP")
    args = parser.parse_args(argv)
    chosen = [p for p in CHOICES if p in (args.only or DEFAULT) and not (args.skip_http and p in OVER_HTTP)]
    quick: bool = args.quick
    t0 = time.monotonic()
    goals: list[Goal] = []
    missed: list[str] = []  # the kernel's targets that are not issue 15's goals
    steps: list[tuple[str, Callable[[], None]]] = []
    if "kernel" in chosen:
        steps.append(("kernel", lambda: kernel_part(quick, goals, missed)))
    if "http" in chosen:
        steps += [(f"http ({name})", functools.partial(http_part, bench, quick, goals))
                  for name, bench in zip(("pharmacy", "therapy"), HTTP_BENCHES, strict=True)]
    if "latency" in chosen:
        steps.append(("latency", lambda: latency_part(quick, goals)))
    if "flags" in chosen:
        steps.append(("flags", lambda: flags_part(quick)))
    if "measures" in chosen:
        steps.append(("measures", lambda: measures_part(quick)))
    failed: list[str] = []
    for name, step in steps:
        try:
            step()
        except Exception:  # one part's failure is reported and the others still run
            progress(f"part {name} failed:\n{traceback.format_exc()}")
            print(f"\n{name}: FAILED (traceback on stderr)")
            failed.append(name)
    if goals:
        print()
        print(f"issue 15 goals ({'quick' if quick else 'full'} run; ratios measured side by side in this run)")
        print()
        print(goals_table(goals))
    missed += [f"{g.part}: {g.line}" for g in goals if g.met is False]
    print()
    print(f"finished in {time.monotonic() - t0:.0f} s; "
          + (f"parts failed: {', '.join(failed)}; " if failed else "")
          + (f"targets missed: {'; '.join(missed)}" if missed else "all targets met"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
