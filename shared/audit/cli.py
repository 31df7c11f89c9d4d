"""``carecoord audit verify [--service S]``: check every event store against its chain, its
signed checkpoints and its topic; print a report; exit 1 on any finding."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from shared.audit.verify import Report, verify_store
from shared.db import create_pool
from shared.services import SERVICES
from shared.settings import settings_for


def add_audit_parser(sub: Any) -> None:
    audit = sub.add_parser("audit", help="tamper evidence of the event stores")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser("verify", help="chains, signed checkpoints and topics, against each other")
    verify.add_argument("--service", choices=sorted(SERVICES), help="one service (default: all)")
    verify.set_defaults(func=_verify)


def _progress(service: str) -> Any:
    last = [0.0]

    def show(stage: str, count: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 0.5:
            last[0] = now
            print(f"\r{service}: {stage}: {count:,} events", end="", file=sys.stderr, flush=True)

    return show


def print_report(report: Report, seconds: float) -> None:
    print(f"\r{report.service}: {report.events:,} events in {report.streams:,} streams, "
          f"{report.checkpoints} checkpoints, {report.published:,} on the topic; "
          f"{len(report.findings)} findings ({seconds:.1f} s)", file=sys.stderr)
    for finding in report.findings:
        print(finding.line())
    for note in report.notes[:20]:
        print(f"  note: {note}", file=sys.stderr)
    if len(report.notes) > 20:
        print(f"  note: … and {len(report.notes) - 20} more", file=sys.stderr)


def _verify(args: argparse.Namespace) -> int:
    names = [args.service] if args.service else list(SERVICES)

    async def run() -> bool:
        ok = True
        for name in names:
            settings = settings_for(name)()
            pool = await create_pool(settings.database_url, settings.database_schema, 2)
            try:
                started = time.monotonic()
                key = settings.audit_key.encode() if settings.audit_key else None
                report = await verify_store(pool, name, key=key, bootstrap=settings.kafka_bootstrap_servers,
                                            topic=settings.topic(), progress=_progress(name))
                print_report(report, time.monotonic() - started)
                ok = ok and report.ok
            finally:
                await pool.close()
        return ok

    return 0 if asyncio.run(run()) else 1
