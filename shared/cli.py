"""``carecoord``: the command line of the platform.

    carecoord token --role prescriber --clinic clinic-a     a local bearer token
    carecoord serve pharmacy [--port 8002]                  run one service
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
from shared.status import add_status_parser


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    module = importlib.import_module(f"services.{args.service}.app")
    uvicorn.run(module.create_app(), host=args.host, port=args.port or SERVICES[args.service],
                log_config=None, access_log=False,
                # Open SSE streams would otherwise hold a graceful shutdown for their lifetime.
                timeout_graceful_shutdown=5)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="carecoord", description="carecoord platform tools")
    sub = parser.add_subparsers(dest="command", required=True)
    add_token_parser(sub)
    serve = sub.add_parser("serve", help="run one service in the foreground")
    serve.add_argument("service", choices=sorted(SERVICES))
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=None)
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
