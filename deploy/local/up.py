"""``make up``: the local platform in the foreground.

Starts Kafka and PostgreSQL (unless running), then every service that exists, waits until
each answers /ready, prints where they answer, and on Ctrl-C stops everything it started.
A service that exits is started again (backoff 0.5 s doubling to 30 s, from 0.5 s again after
a minute's health: ``supervise.py``), and the console says so.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import stack
from supervise import Supervisor

from shared.services import SERVICES

PIDS = stack.RUN / "services"
DEMO_MARKER = stack.RUN / "demo-loaded"  # written by `carecoord demo load` once the cohort is in


def ready(port: int) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=5) as resp:
            return resp.status == 200, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return False, exc.read().decode(errors="replace")
    except OSError as exc:
        return False, str(exc)


def load_demo(env: dict[str, str], stop_requested: Callable[[], bool], tick: Callable[[], None] = lambda: None) -> bool:
    """The synthetic demo cohort, on the first start only (``make up DEMO=0`` skips it); True
    when it ran. A failed load leaves no marker, so the next start tries again; the loader is
    idempotent, so what got in the first time is not recorded twice."""
    if env.get("CARECOORD_DEMO", "1").strip().lower() in ("0", "false", "no", "off") or DEMO_MARKER.exists():
        return False
    print("\n  loading the demo cohort (first start only; `make up DEMO=0` skips it)", flush=True)
    proc = subprocess.Popen([sys.executable, "-m", "shared.cli", "demo", "load", "--marker", str(DEMO_MARKER)],
                            cwd=stack.ROOT, env=env)
    while proc.poll() is None:
        if stop_requested():
            proc.terminate()
            proc.wait(15)
            return True
        tick()  # services are supervised while the cohort loads (it retries what a restart interrupts)
        time.sleep(0.2)
    if proc.returncode != 0:
        print("  the demo cohort is not complete (see above); the next `make up` loads the rest", file=sys.stderr)
    return True


def stop_services(supervisor: Supervisor) -> None:
    supervisor.stop()
    for name in supervisor.children:
        (PIDS / f"{name}.pid").unlink(missing_ok=True)


def main() -> int:
    stop_requested = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    t0 = time.monotonic()
    try:
        with stack.session() as env:
            return run_services(env, t0, lambda: stop_requested)
    except stack.StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def service_env(env: dict[str, str], name: str) -> dict[str, str]:
    """``env`` with the service's own Kafka user instead of the admin (its ACLs allow writing
    its own topics and reading what it projects, nothing else: shared.kafka.acls) and the
    database's runtime role instead of its owner (shared.migrations.grants)."""
    own = {k: v for k, v in env.items() if k != "CARECOORD_KAFKA_PASSWORD"}
    own[f"CARECOORD_{name.upper()}_DATABASE_URL"] = stack.app_database_url(name)
    own["CARECOORD_KAFKA_USERNAME"] = name
    own["CARECOORD_KAFKA_PASSWORD_FILE"] = str(Path(env["CARECOORD_KAFKA_USERS_DIR"]) / name)
    return own


def run_services(env: dict[str, str], t0: float, stop_requested: Callable[[], bool]) -> int:
    root = stack.ROOT
    PIDS.mkdir(parents=True, exist_ok=True)
    logs = stack.RUN / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    supervisor = Supervisor(say=lambda line: print(line, file=sys.stderr, flush=True),
                            status_file=stack.SUPERVISOR_STATUS)
    # The local stack serves /docs and /openapi.json (off by default elsewhere); set it to
    # false in the environment to try the stack as a deployment answers.
    env = {"CARECOORD_API_DOCS_ENABLED": "true", **env}
    # The pages' local sign-in (/ui/sign-in signs a token with this stack's own secret): local only.
    env = {"CARECOORD_COORDINATION_UI_LOCAL_SIGN_IN": "true", **env}
    # The restarts of the services each one reads, in its /ready under "peers" (shared/peers.py).
    env = {**env, "CARECOORD_SUPERVISOR_STATUS": str(stack.SUPERVISOR_STATUS)}
    # Schemas first, as a deployment's pre-start step would: a service then starts on a
    # current database and several instances never race to migrate.
    migrated = subprocess.run([sys.executable, "-m", "shared.cli", "db", "upgrade", "--grant-to",
                               stack.PG_APP_USER], cwd=root, env=env)
    if migrated.returncode != 0:
        print("error: the database migrations failed (see above)", file=sys.stderr)
        return 1
    def starter(name: str, port: int) -> Callable[[], subprocess.Popen]:
        def start() -> subprocess.Popen:
            with open(logs / f"{name}.log", "ab") as out:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "shared.cli", "serve", name, "--port", str(port)],
                    cwd=root, env=service_env(env, name), stdout=out, stderr=subprocess.STDOUT,
                    start_new_session=True)
            (PIDS / f"{name}.pid").write_text(str(proc.pid))  # `make down` finds the current one
            return proc
        return start

    for name, port in SERVICES.items():
        if (root / "services" / name / "app.py").exists():
            supervisor.add(name, starter(name, port))
    procs = supervisor.children
    code = 0
    try:
        pending = dict(procs)
        deadline = time.monotonic() + 90
        while pending and not stop_requested():
            supervisor.poll()
            for name in list(pending):
                if not supervisor.running(name):
                    continue  # exited: the supervisor starts it again, within the deadline
                ok, _ = ready(SERVICES[name])
                if ok:
                    pending.pop(name)
            if time.monotonic() > deadline:
                detail = {n: ready(SERVICES[n])[1][:300] for n in pending}
                raise RuntimeError(f"not ready in 90 s: {json.dumps(detail)}")
            time.sleep(0.3)
        if not stop_requested():
            print(f"\ncarecoord is up in {time.monotonic() - t0:.1f} s\n")
            print(f"  {'service':<13} {'health':<34} {'API docs'}")
            for name in procs:
                base = f"http://127.0.0.1:{SERVICES[name]}"
                print(f"  {name:<13} {base + '/ready':<34} {base}/docs")
            print(f"\n  Kafka {env['CARECOORD_KAFKA_BOOTSTRAP_SERVERS']} · PostgreSQL 127.0.0.1:{stack.PG_PORT}"
                  f" · logs in {logs.relative_to(root)}/ and {stack.KAFKA_LOGS.relative_to(root)}/")
            print("  a token: .venv/bin/carecoord token --role coordinator --clinic clinic-a", flush=True)
            if not load_demo(env, stop_requested, supervisor.poll):  # its summary ends with the pages' URL
                print(f"\n  pages: http://127.0.0.1:{SERVICES['coordination']}/ui")
            print("\n  Ctrl-C stops everything; a service that exits is restarted.", flush=True)
        while not stop_requested():
            supervisor.poll()
            time.sleep(0.3)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 1
    finally:
        print("\nstopping …", file=sys.stderr)
        stop_services(supervisor)
    return code


if __name__ == "__main__":
    sys.exit(main())
