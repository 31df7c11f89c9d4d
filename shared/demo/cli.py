"""``carecoord demo load``: the synthetic cohort into a running stack, over its public APIs.

    carecoord demo load                               36 patients, 3 clinics, seed 1, local ports
    carecoord demo load --patients 12 --clinics 2 --seed 7 --url coordination=http://host:8004

Exits 0 when every patient was loaded (again: a second run records nothing), 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path
from typing import Any

from shared.services import SERVICES

MARKER = Path(".run/demo-loaded")
EXIT_USAGE = 2


def add_demo_parser(sub: Any) -> None:
    demo = sub.add_parser("demo", help="synthetic demo data for a running stack")
    actions = demo.add_subparsers(dest="demo_command", required=True)
    load = actions.add_parser("load", help="load the synthetic cohort through the public HTTP APIs",
                              description="Load synthetic patients (obviously fake names) whose care raises every "
                                          "risk rule for some and none for the controls. Idempotent.")
    load.add_argument("--patients", type=int, default=36, help="how many (default 36; at least 10 to have every rule)")
    load.add_argument("--clinics", type=int, default=3, help="how many clinics, clinic-a … (default 3)")
    load.add_argument("--seed", type=int, default=1, help="which cohort (default 1)")
    load.add_argument("--url", action="append", metavar="SERVICE=URL",
                      help="a service's base URL (repeatable); default: the local stack's ports")
    load.add_argument("--concurrency", type=int, default=12, help="requests at once (default 12)")
    load.add_argument("--marker", type=Path, default=MARKER,
                      help=f"where the loaded cohort is recorded (default {MARKER}); `make up` loads without it")
    load.add_argument("--secret-file", type=Path, default=None, metavar="PATH",
                      help="HS256 secret (default: $CARECOORD_JWT_SECRET, else .run/secrets/jwt-secret)")
    load.add_argument("--wait", type=float, default=180.0, metavar="SECONDS",
                      help="how long to wait for coordination to see every event before the summary")
    load.set_defaults(func=run_load)


def _targets(pairs: list[str] | None) -> dict[str, str]:
    targets = {name: f"http://127.0.0.1:{port}" for name, port in SERVICES.items()}
    for pair in pairs or ():
        name, sep, url = pair.partition("=")
        if not sep or name not in SERVICES or not url:
            raise SystemExit(f"carecoord demo load: --url takes SERVICE=URL with SERVICE one of "
                             f"{', '.join(SERVICES)}, not {pair!r}")
        targets[name] = url.rstrip("/")
    return targets


def run_load(args: argparse.Namespace) -> int:
    if args.patients < 1 or not 1 <= args.clinics <= 26 or not 1 <= args.concurrency <= 64:
        print("carecoord demo load: --patients ≥ 1, --clinics 1 to 26, --concurrency 1 to 64", file=sys.stderr)
        return EXIT_USAGE
    try:
        return asyncio.run(_load(args, _targets(args.url)))
    except KeyboardInterrupt:
        print("\ncarecoord demo load: interrupted; run it again to finish (nothing is recorded twice)",
              file=sys.stderr)
        return 130


async def _load(args: argparse.Namespace, targets: dict[str, str]) -> int:
    # Imported here: the rest of the command line works without the demo's client libraries.
    import httpx
    from rich.console import Console

    from .client import Api, LoadError, Tokens, resolve_secret
    from .cohort import MIN_PATIENTS, build
    from .loader import choose_anchor, load_cohort, open_flags, read_marker, settle, write_marker
    from .report import progress_bar, summary

    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request would bury the progress bar
    console = Console()
    if args.patients < MIN_PATIENTS:
        console.print(f"[yellow]fewer than {MIN_PATIENTS} patients: not every rule gets an archetype[/yellow]")
    cohort = build(args.patients, args.clinics, args.seed)
    try:
        tokens = Tokens(resolve_secret(args.secret_file), cohort.clinics)
    except LoadError as exc:
        print(f"carecoord demo load: {exc}", file=sys.stderr)
        return EXIT_USAGE
    started = time.monotonic()
    clients = {name: httpx.AsyncClient(base_url=url, timeout=30.0) for name, url in targets.items()}
    try:
        api = Api(clients, tokens, args.concurrency)
        try:
            anchor, recorded = await choose_anchor(api, cohort, read_marker(args.marker))
        except LoadError as exc:
            print(f"carecoord demo load: {exc}", file=sys.stderr)
            return 1
        with progress_bar(console, sum(len(c.steps) for c in cohort.charts), len(cohort.members)) as advance:
            loaded = await load_cohort(api, cohort, anchor, advance, args.concurrency, frozenset(recorded))
        try:
            settled = await settle(api, cohort, loaded, args.wait)
            flags = await open_flags(api)
        except LoadError as exc:  # the cohort is loaded; only the summary lacks the flags
            console.print(f"[yellow]no flags summary: {exc}[/yellow]")
            settled, flags = False, None
    finally:
        for client in clients.values():
            await client.aclose()
    if loaded.complete:
        write_marker(args.marker, cohort, loaded)
    summary(console, cohort, loaded, flags, settled, time.monotonic() - started, f"{targets['coordination']}/ui")
    return 0 if loaded.complete else 1
