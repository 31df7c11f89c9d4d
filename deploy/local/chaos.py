"""``make chaos``: the platform on a three-broker cluster under load while faults run, then the
checks (see ``deploy/local/chaos/``); exits 0 only when every check holds.

    python deploy/local/chaos.py                 the full run: 100,000 commands, 20 coordination kills, …
    python deploy/local/chaos.py --bounded       the bounded run of make test (5,000 commands, one fault of each kind)
    python deploy/local/chaos.py --events 20000 --coordination-kills 5 …

It uses its own ports (Kafka 19092-19097, the proxy 19192-19197, services 18001-18004), its own
PostgreSQL (port 15433, made with initdb under .run/chaos/pg, as root in the temporary folder:
the run restarts and crashes it;
the shared cluster on 5432 is never touched) and a topic namespace per run, so it runs beside
`make up`.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import stack
from chaos.run import BOUNDED, FULL, run, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bounded", action="store_true", help="the bounded run (as inside make test)")
    for name in ("events", "coordination_kills", "clinical_kills", "broker_kills", "broker_restarts", "cuts",
                 "pg_restarts", "poison", "concurrency"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=None)
    parser.add_argument("--keep-cluster", action="store_true",
                        help="leave the three brokers and the run's PostgreSQL running afterwards")
    args = parser.parse_args(argv)
    plan = BOUNDED if args.bounded else FULL
    plan = dataclasses.replace(plan, **{k: v for k, v in vars(args).items()
                                        if k in {f.name for f in dataclasses.fields(plan)} and v is not None})
    # the admin's credentials and the shared secrets, as `stack.py env` gives them
    os.environ.update(line.split("=", 1) for line in stack.env_lines())
    report = asyncio.run(run(plan, keep_cluster=args.keep_cluster))
    print(summary(report))
    return 0 if report.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
