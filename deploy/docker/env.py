"""Write ``.run/docker.env``: the secrets ``docker compose`` needs, made on this machine.

The compose file has no default for any secret (a default in a public repository is a
secret everyone has: anyone could mint admin tokens for every clinic), so it refuses to start
until they are given:

    python3 deploy/docker/env.py && docker compose --env-file .run/docker.env up --build

The JWT secret and the audit key are the local stack's own (``.run/secrets/``, so
``carecoord token`` signs for both); the PostgreSQL password is made once beside them. The
file is 0600 in a 0700 folder from the moment it exists, and ``.run/`` is not committed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "local"))
import stack

ENV_FILE = stack.RUN / "docker.env"
PG_PASSWORD_FILE = stack.RUN / "secrets" / "pg-password"


def env_text() -> str:
    return "".join(f"{name}={value}\n" for name, value in (
        ("CARECOORD_JWT_SECRET", stack.jwt_secret()),
        ("CARECOORD_AUDIT_KEY", stack._secret(stack.AUDIT_KEY_FILE)),
        ("CARECOORD_PG_PASSWORD", stack._secret(PG_PASSWORD_FILE)),
    ))


def write(path: Path = ENV_FILE) -> Path:
    """(Re)write the env file with mode 0600, never wider, even for a moment."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(env_text())
        os.replace(draft, path)
    except BaseException:
        draft.unlink(missing_ok=True)
        raise
    return path


if __name__ == "__main__":
    written = write()
    shown = written.relative_to(stack.ROOT) if written.is_relative_to(stack.ROOT) else written
    print(f"wrote {shown}; start with: docker compose --env-file {shown} up --build")
