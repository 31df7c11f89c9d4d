"""One chaos run: start, load while the faults run, settle, check, report."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import checks
from . import platform as pf
from .faults import Injector, Observer, schedule
from .load import Load, cohort_for
from .poison import inject
from .proxy import Proxy


@dataclass(frozen=True)
class Plan:
    events: int
    coordination_kills: int
    clinical_kills: int  # of each clinical service
    broker_kills: int
    broker_restarts: int
    cuts: int
    pg_restarts: int = 1  # alternately a crash (immediate stop) and a clean (fast) restart
    poison: int = 1000
    concurrency: int = 16
    settle_timeout: float = 240.0

    @property
    def faults(self) -> int:
        return (self.coordination_kills + 3 * self.clinical_kills + self.broker_kills + self.broker_restarts
                + self.cuts + self.pg_restarts)


# Commands; the events recorded are about 8 % more (coordination's flags and decisions).
BOUNDED = Plan(events=4700, coordination_kills=1, clinical_kills=1, broker_kills=1, broker_restarts=1, cuts=1)
FULL = Plan(events=100_000, coordination_kills=20, clinical_kills=5, broker_kills=2, broker_restarts=1, cuts=3,
            pg_restarts=2)


def say(line: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {line}", flush=True)


async def run(plan: Plan, keep_cluster: bool = False) -> dict[str, Any]:
    t_start = time.monotonic()
    namespace = f"chaos{time.strftime('%m%d%H%M%S')}{uuid.uuid4().hex[:4]}."
    say(f"[chaos] starting the three-broker cluster (ports {pf.KAFKA_BASE}-{pf.KAFKA_BASE + 5})")
    cluster_seconds = await asyncio.to_thread(pf.start_cluster)
    proxy = Proxy(pf.proxy_routes())
    await proxy.start()
    platform: pf.Platform | None = None
    report: dict[str, Any] = {"plan": asdict(plan), "namespace": namespace,
                              "cluster_start_s": round(cluster_seconds, 1)}
    try:
        say(f"[chaos] starting the run's PostgreSQL (port {pf.pg.PORT})")
        await asyncio.to_thread(pf.pg.start)
        await asyncio.to_thread(pf.pg.provision)
        platform = await pf.start_services(namespace, say)
        report["platform_start_s"] = round(time.monotonic() - t_start, 1)
        say(f"[chaos] services ready after {report['platform_start_s']} s; namespace {namespace}")
        report.update(await _exercise(plan, platform, proxy))
    finally:
        await proxy.close()
        if platform is not None:
            platform.supervisor.stop()
            report["supervisor"] = platform.lines
        if not keep_cluster:
            await asyncio.to_thread(pf.stop_cluster)
            await asyncio.to_thread(pf.pg.stop)
    report["total_s"] = round(time.monotonic() - t_start, 1)
    report["ok"] = all(c.get("ok") for c in report.get("checks", {}).values()) and bool(report.get("checks"))
    out = pf.HOME / f"report-{namespace.rstrip('.')}.json"
    out.write_text(json.dumps(report, indent=2, default=str))
    report["report_file"] = str(out)
    return report


async def _exercise(plan: Plan, platform: pf.Platform, proxy: Proxy) -> dict[str, Any]:
    observer = Observer(platform.bootstrap, platform.namespace)
    await observer.start()
    cohort = cohort_for(plan.events)
    load = Load({s: platform.url(s) for s in pf.SERVICE_NAMES}, platform.env["CARECOORD_JWT_SECRET"], cohort,
                plan.concurrency)
    say(f"[chaos] load: {len(cohort.charts)} patients, {load.total} commands; {plan.faults} faults, "
        f"{plan.poison} poison records")
    t0 = time.monotonic()
    injector = Injector(platform, proxy, observer, t0, say)
    faults = schedule(plan.coordination_kills, plan.clinical_kills, plan.broker_kills, plan.broker_restarts,
                      plan.cuts, plan.pg_restarts)
    stop = asyncio.Event()

    async def supervise() -> None:
        while not stop.is_set():
            platform.supervisor.poll()
            await asyncio.sleep(0.2)

    async def sample() -> None:
        while not stop.is_set():
            await observer.sample(t0)
            await asyncio.sleep(2.0)

    async def progress() -> None:
        while not stop.is_set():
            await asyncio.sleep(15)
            lag = observer.samples[-1][1] if observer.samples else "?"
            say(f"[chaos] {load.done}/{load.total} commands, {load.rate:.0f}/s, lag {lag}")

    async def run_faults() -> None:
        await asyncio.sleep(5)
        for i, fault in enumerate(faults):
            await injector.inject(fault)
            # spread what is left over the load still to come
            left = max(0.0, (load.total - load.done) / max(load.rate, 1.0))
            await asyncio.sleep(min(30.0, max(2.0, left / (len(faults) - i))))
        await injector.drain()

    background = [asyncio.create_task(t()) for t in (supervise, sample, progress)]
    poison_topics = {s: f"{platform.namespace}carecoord.{s}.events.v1" for s in pf.SERVICE_NAMES}
    try:
        fault_task = asyncio.create_task(run_faults())
        await asyncio.sleep(3)
        poison = await inject(platform.bootstrap, poison_topics, plan.poison)
        loaded = await load.run()
        load_s = time.monotonic() - t0
        say(f"[chaos] load done in {load_s:.1f} s ({load.rate:.0f} commands/s, {len(loaded.failures)} patients "
            f"not completed: {sorted(set(loaded.failures.values()))[:3]}); waiting for the faults to end")
        await fault_task
        faults_s = time.monotonic() - t0
        settle = await checks.quiet(observer, plan.settle_timeout)
        say(f"[chaos] settled {settle} s after the last fault; checking")
        final_lag = await observer.lag()
        committed_topics = {}
        for group in await observer.groups():
            offsets = await observer.admin.list_consumer_group_offsets(group)
            committed_topics[group.removeprefix(platform.namespace)] = {tp.topic for tp in offsets}
        group_topics = {platform.namespace + g: ts for g, ts in committed_topics.items()}
        result = await checks.check_all(platform, load.ledger, poison, group_topics, final_lag,
                                        [asdict(f) for f in injector.done])
    finally:
        stop.set()
        for task in background:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        await load.close()
        await observer.close()
    ledger = load.ledger
    return {
        "commands": load.total, "commands_acknowledged": len(ledger.acked), "load_failures": len(loaded.failures),
        "load_failure_examples": sorted(set(loaded.failures.values()))[:5],
        # the ledger's times (a 5xx's "at") count from the load's start, the faults' from t0
        "load_started_s": round(load.started - t0, 1),
        "load_s": round(load_s, 1), "faults_done_s": round(faults_s, 1), "settle_s": settle,
        "commands_per_s": round(load.rate, 1), "requests": ledger.sent, "statuses": dict(ledger.statuses),
        "client_retries": load.api.retries, "max_lag": observer.max_lag,
        "faults": [asdict(f) for f in injector.done], "checks": result,
    }


def summary(report: dict[str, Any]) -> str:
    lines = [f"chaos run {report['namespace']}: {'PASSED' if report.get('ok') else 'FAILED'} in {report['total_s']} s",
             f"  commands {report.get('commands')} acknowledged {report.get('commands_acknowledged')} "
             f"({report.get('commands_per_s')}/s), load failures {report.get('load_failures')}, "
             f"max lag {report.get('max_lag')}"]
    for f in report.get("faults", []):
        lines.append(f"  {f['kind']:<15} {f['target']:<13} at {f['injected_at']:>6} s  recovered after "
                     f"{f['recovered_after']} s {f['detail'] or ''}")
    for name, c in report.get("checks", {}).items():
        detail = {k: v for k, v in c.items() if k not in ("ok", "projections", "examples", "output")}
        lines.append(f"  {'ok  ' if c.get('ok') else 'FAIL'} {name} {json.dumps(detail, default=str)[:300]}")
    lines.append(f"  report: {report.get('report_file')}")
    return "\n".join(lines)


def write_json(path: Path, report: dict[str, Any]) -> None:
    path.write_text(json.dumps(report, indent=2, default=str))
