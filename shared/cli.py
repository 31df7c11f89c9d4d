"""``carecoord``: the command line of the platform.

    carecoord token --role prescriber --clinic clinic-a     a local bearer token
    carecoord serve pharmacy [--port 8002] [--workers N]    run one service (N processes on one port)
    carecoord dlq replay --topic T [--group G]              dead letters back to their topic
    carecoord db upgrade [SERVICE] [--grant-to ROLE]        apply pending schema migrations
    carecoord audit verify [--service S]                    chains, signed checkpoints and topics
    carecoord status [--url SERVICE=URL ...]                readiness, backlog, lag, dead letters
    carecoord replay [--verify-only] [--patient ID --until T] coordination's read models rebuilt from the topics
    carecoord demo load [--patients N] [--seed S]           a synthetic cohort over the HTTP APIs
"""

from __future__ import annotations

import argparse
import importlib
import sys

from shared.audit.cli import add_audit_parser
from shared.auth.cli import add_token_parser
from shared.demo.cli import add_demo_parser
from shared.migrations.cli import add_db_parser
from shared.projection.dlq import add_dlq_parser
from shared.services import SERVICES
from shared.serving import serve, worker_count
from shared.status import add_status_parser


def _serve(args: argparse.Namespace) -> int:
    port = SERVICES[args.service] if args.port is None else args.port
    return serve(args.service, args.host, port, args.workers, reuse_port=args.reuse_port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="carecoord", description="carecoord platform tools")
    sub = parser.add_subparsers(dest="command", required=True)
    add_token_parser(sub)
    serve = sub.add_parser("serve", help="run one service in the foreground")
    serve.add_argument("service", choices=sorted(SERVICES))
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--workers", type=worker_count, default=1, metavar="N",
                       help="worker processes sharing the port (SO_REUSEPORT); 'auto': one per CPU (default 1)")
    # A worker of `serve --workers N`: listens with SO_REUSEPORT beside the others.
    serve.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    serve.set_defaults(func=_serve)
    add_dlq_parser(sub)
    add_db_parser(sub)
    add_audit_parser(sub)
    add_status_parser(sub)
    # coordination's, imported by name: shared/ holds no static import of a service
    importlib.import_module("services.coordination.replay.cli").add_replay_parser(sub)
    add_demo_parser(sub)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
