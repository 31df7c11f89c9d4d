"""The chaos run's own PostgreSQL: a cluster made with ``initdb`` under ``.run/chaos/pg`` (as
root, in the system's temporary folder: see ``_home``) on a port of its own (15433), started
and stopped by the run, so it can be restarted and crashed while the load runs. The
machine's shared cluster (port 5432) serves everyone else and is never touched.

The cluster is made once and kept between runs (each run makes fresh ``carecoord_chaos_*``
databases in it); it has the roles the local stack has: ``carecoord`` (the bootstrap
superuser: owner and migrations) and ``carecoord_app`` (the services' runtime role).
Standard library only, like ``stack.py``; the server runs as the ``postgres`` user when this
runs as root (PostgreSQL refuses root), otherwise as the caller.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import stack

PORT = int(os.environ.get("CARECOORD_CHAOS_PG_PORT", "15433"))


def _home() -> Path:
    """Where the cluster lives. As root the server runs as ``postgres``, which may not enter the
    checkout at all (a CI checkout in a private temporary folder is the caller's alone): then a
    folder of its own in the system's temporary folder, one per checkout."""
    if os.geteuid() == 0:
        digest = hashlib.sha256(str(stack.ROOT).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"carecoord-chaos-pg-{digest}"
    return stack.RUN / "chaos" / "pg"


HOME = _home()
DATA = HOME / "data"
LOG = HOME / "server.log"
# A chaos run's four services with their pools, the checks and the replay: well above the default 100.
SETTINGS = {"max_connections": "200", "listen_addresses": "'127.0.0.1'"}


def _as_server_user(args: list[str], timeout: float = 180.0) -> subprocess.CompletedProcess:
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    # from "/": the server user may not be allowed into the caller's working folder
    return subprocess.run(prefix + args, capture_output=True, text=True, timeout=timeout, cwd="/")


def _give_to_server_user(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")


def _tool(name: str) -> str:
    return str(stack.pg_bin() / name)


def initialised() -> bool:
    return (DATA / "PG_VERSION").exists()


def init() -> bool:
    """``initdb`` the cluster unless it exists; True when it was made now."""
    if initialised():
        return False
    HOME.mkdir(parents=True, exist_ok=True)
    _give_to_server_user(HOME)
    shutil.rmtree(DATA, ignore_errors=True)  # a half-made one from an interrupted start
    pwfile = HOME / ".pwfile"
    fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(stack.PG_PASSWORD + "\n")
    _give_to_server_user(pwfile)
    try:
        res = _as_server_user([_tool("initdb"), "-D", str(DATA), "-U", stack.PG_USER, f"--pwfile={pwfile}",
                               "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C"])
    finally:
        pwfile.unlink(missing_ok=True)
    if res.returncode != 0:
        raise stack.StackError(f"initdb of the chaos PostgreSQL failed: {res.stderr.strip()[-1500:]}")
    with open(DATA / "postgresql.conf", "a") as conf:
        conf.write("\n# the chaos run's settings\n" + "".join(f"{k} = {v}\n" for k, v in SETTINGS.items()))
    return True


def running() -> bool:
    return initialised() and _as_server_user([_tool("pg_ctl"), "status", "-D", str(DATA)]).returncode == 0


def start(timeout: float = 120.0) -> float:
    """Start it (made first if need be) and wait until it accepts connections; the seconds it
    took. After a crash this includes the recovery from the write-ahead log."""
    t0 = time.monotonic()
    init()
    if not running():
        LOG.touch()
        _give_to_server_user(LOG)
        # the port and the socket's folder on the command line: CARECOORD_CHAOS_PG_PORT may change
        res = _as_server_user([_tool("pg_ctl"), "start", "-D", str(DATA), "-l", str(LOG), "-w", "-t", str(int(timeout)),
                               "-o", f"-p {PORT} -k {HOME}"], timeout=timeout + 30)
        if res.returncode != 0:
            raise stack.StackError(f"the chaos PostgreSQL did not start: {res.stderr.strip()[-500:]}\n"
                                   f"{stack.tail(LOG)}")
    deadline = time.monotonic() + timeout
    while not stack.port_open(PORT):
        if time.monotonic() > deadline:
            raise stack.StackError(f"the chaos PostgreSQL does not accept connections; last log lines:\n"
                                   f"{stack.tail(LOG)}")
        time.sleep(0.2)
    return time.monotonic() - t0


def stop(mode: str = "fast", timeout: float = 60.0) -> None:
    """``fast``: sessions are ended, then a clean shutdown; ``immediate``: every server process
    is killed at once, as in a crash (the next start recovers from the write-ahead log)."""
    if not running():
        return
    res = _as_server_user([_tool("pg_ctl"), "stop", "-D", str(DATA), "-m", mode, "-w", "-t", str(int(timeout))],
                          timeout=timeout + 30)
    if res.returncode != 0:
        raise stack.StackError(f"stopping the chaos PostgreSQL ({mode}) failed: {res.stderr.strip()[-500:]}")


def provision() -> None:
    """The runtime role with the local stack's password for it (the owner is the bootstrap
    superuser ``initdb`` made); idempotent."""
    sql = (f"DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='{stack.PG_APP_USER}') THEN "
           f"CREATE ROLE {stack.PG_APP_USER} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE; END IF; END$$; "
           f"ALTER ROLE {stack.PG_APP_USER} PASSWORD '{stack.pg_app_password()}'")
    res = _as_server_user([_tool("psql"), "-h", str(HOME), "-p", str(PORT), "-U", stack.PG_USER, "-d", "postgres",
                           "-v", "ON_ERROR_STOP=1", "-qAtc", sql])
    if res.returncode != 0:
        raise stack.StackError(f"creating {stack.PG_APP_USER} in the chaos PostgreSQL failed: {res.stderr.strip()}")
