"""``carecoord token``: mint a token for calling a locally running stack.

Stdout carries the token and nothing else, so ``TOKEN=$(carecoord token ...)`` works;
every message goes to stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from shared.auth.principal import Role
from shared.auth.tokens import MAX_LIFETIME_SECONDS, issue_token

SECRET_ENV = "CARECOORD_JWT_SECRET"
LOCAL_SECRET_FILE = Path(".run/secrets/jwt-secret")
EXIT_USAGE = 2


class _SecretUnavailable(Exception):
    pass


def add_token_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Register the ``token`` subcommand; ``run_token`` is set as its ``func`` default."""
    roles = ", ".join(role.value for role in Role)
    parser = subparsers.add_parser(
        "token",
        help="print a signed HS256 token for the local stack",
        description=(
            "Print a signed HS256 token for the local stack. The secret is read from "
            f"--secret-file, else ${SECRET_ENV}, else {LOCAL_SECRET_FILE} (written by "
            "`make up`)."
        ),
    )
    parser.add_argument(
        "--role",
        dest="roles",
        action="append",
        required=True,
        metavar="ROLE",
        help=f"role to grant, repeatable; one of: {roles}",
    )
    parser.add_argument(
        "--clinic",
        dest="clinics",
        action="append",
        required=True,
        metavar="CLINIC",
        help="clinic id the caller may see, repeatable",
    )
    parser.add_argument("--sub", default="staff-local", help="staff id (default: staff-local)")
    parser.add_argument(
        "--ttl", type=int, default=3600, metavar="SECONDS", help="lifetime (default: 3600)"
    )
    parser.add_argument(
        "--secret-file",
        type=Path,
        default=None,
        metavar="PATH",
        help="file holding the HS256 secret (overrides the environment)",
    )
    parser.set_defaults(func=run_token)
    return parser


def _read_secret_file(path: Path) -> str:
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise _SecretUnavailable(f"cannot read secret file {path}: {exc.strerror}") from None
    if not secret:
        raise _SecretUnavailable(f"secret file {path} is empty")
    return secret


def _resolve_secret(secret_file: Path | None) -> str:
    """An explicit flag wins over the environment, which wins over the stack's file."""
    if secret_file is not None:
        return _read_secret_file(secret_file)
    from_env = os.environ.get(SECRET_ENV, "").strip()
    if from_env:
        return from_env
    if LOCAL_SECRET_FILE.is_file():
        return _read_secret_file(LOCAL_SECRET_FILE)
    raise _SecretUnavailable(
        f"no JWT secret: run `make up` to start the local stack (it writes "
        f"{LOCAL_SECRET_FILE}) or set {SECRET_ENV}"
    )


def _error(message: str) -> int:
    print(f"carecoord token: {message}", file=sys.stderr)
    return EXIT_USAGE


def run_token(args: argparse.Namespace) -> int:
    known = {role.value for role in Role}
    unknown = [role for role in args.roles if role not in known]
    if unknown:
        return _error(f"unknown role {unknown[0]!r}; choose from: {', '.join(sorted(known))}")
    if not args.clinics or not all(clinic.strip() for clinic in args.clinics):
        return _error("at least one non-empty --clinic is required")
    if args.ttl <= 0:
        return _error("--ttl must be a positive number of seconds")
    if args.ttl > MAX_LIFETIME_SECONDS:
        # The services refuse a token that lives longer; better said here than by a 401.
        return _error(f"--ttl must be at most {MAX_LIFETIME_SECONDS} seconds (the services' limit)")
    if not args.sub:
        return _error("--sub must not be empty")
    try:
        secret = _resolve_secret(args.secret_file)
    except _SecretUnavailable as exc:
        return _error(str(exc))
    token = issue_token(
        secret,
        sub=args.sub,
        roles=list(args.roles),
        clinics=list(args.clinics),
        ttl_seconds=args.ttl,
    )
    print(token)
    return 0
