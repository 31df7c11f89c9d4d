"""The ``replay`` subcommand of ``carecoord``.

    carecoord replay [--verify-only] [--force] [--keep] [--workers N]
        rebuild coordination's read models from the topics into a scratch schema while the live
        ones serve, compare checksums, swap them in (exit 1 when they differ and nothing swapped)
    carecoord replay --patient ID [--until TIME] [--json] [--keep]
        one patient's history recorded by TIME, replayed into a scratch schema and printed

Settings are coordination's (``CARECOORD_COORDINATION_*``: database, schema, Kafka, namespace).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the command line loads the service's modules only when the command runs
    from .rebuild import RebuildReport


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.utcoffset() is None:
        raise argparse.ArgumentTypeError("give a time zone, e.g. 2026-05-01T10:00:00Z")
    return moment


def add_replay_parser(sub: Any) -> None:
    replay = sub.add_parser("replay", help="rebuild coordination's read models from the topics, or replay one patient")
    replay.add_argument("--verify-only", action="store_true", help="rebuild and compare, but do not swap")
    replay.add_argument("--force", action="store_true", help="swap even when the checksums differ")
    replay.add_argument("--keep", action="store_true", help="keep the scratch (and retired) schema")
    replay.add_argument("--workers", type=int, default=1,
                        help="processes sharing the bulk of a rebuild (the topics' partitions among them)")
    replay.add_argument("--patient", help="replay this patient's history only, and print it")
    replay.add_argument("--until", type=_moment, help="with --patient: what had been recorded by this moment")
    replay.add_argument("--json", action="store_true", help="with --patient: print JSON")
    replay.set_defaults(func=_run)


def print_report(report: RebuildReport) -> None:
    print(f"rebuilt {report.events:,} events in {report.seconds:,.1f} s ({report.rate:,.0f} events/s); "
          f"{report.flags:,} flags from one evaluation per patient in {report.flags_seconds:,.1f} s")
    for name in report.live:
        same = "equal" if report.live[name] == report.rebuilt.get(name) else "DIFFERS"
        print(f"  {name:<10} live {report.live[name]:<44} rebuilt {report.rebuilt.get(name, '-'):<44} {same}")
    if report.swapped:
        print("swapped: the live schema now holds the rebuilt read models")


def _print_patient(shown: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(shown, default=str, indent=2))
        return
    print(f"patient {shown['patient_id']} as of {shown['as_of'].isoformat()}: {len(shown['timeline'])} events")
    for e in shown["timeline"]:
        print(f"  {e['occurred_at'].isoformat()}  {e['service']:<12} {e['type']:<26} {e['summary']}")
    print("flags:")
    for f in shown["flags"]:
        print(f"  {f['rule_id']:<26} {f['severity']:<8} {f['status']:<12} raised {f['raised_at']}"
              + (f" resolved {f['resolved_at']}" if f["resolved_at"] else ""))
    if shown["summary"] is not None:
        print("summary:")
        print(json.dumps(shown["summary"], default=str, indent=2))


def _run(args: argparse.Namespace) -> int:
    from services.coordination.settings import CoordinationSettings

    from .patient import replay_patient
    from .progress import Progress
    from .rebuild import ChecksumMismatch, rebuild

    settings = CoordinationSettings()
    if args.until is not None and args.patient is None:
        print("--until needs --patient", file=sys.stderr)
        return 2
    if args.patient is not None:
        progress = Progress("replay")
        shown, _ = asyncio.run(replay_patient(settings, args.patient, args.until, keep=args.keep, progress=progress))
        progress.finish()
        _print_patient(shown, args.json)
        return 0
    try:
        report = asyncio.run(rebuild(settings, swap=not args.verify_only, force=args.force, keep=args.keep,
                                     workers=args.workers))
    except ChecksumMismatch as exc:
        print_report(exc.report)
        print(f"not swapped: the rebuilt read models differ (kept in schema {exc.report.scratch}; "
              "--force swaps anyway)", file=sys.stderr)
        return 1
    print_report(report)
    return 0 if report.equal else 1
