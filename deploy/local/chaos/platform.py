"""The platform a chaos run drives: a three-broker cluster of its own (its own ports and store,
beside the default stack), fresh databases on a PostgreSQL of its own (``.pg``: the run
restarts it), a topic namespace per run, and the four services as supervised subprocesses,
each with its own Kafka user and the database's runtime role as ``make up`` runs them.
One service reaches Kafka through the proxy.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "deploy" / "local"))
sys.path.insert(0, str(ROOT))
import stack  # noqa: E402
from supervise import Supervisor  # noqa: E402

from . import pg  # noqa: E402

SERVICE_NAMES = ("assessment", "pharmacy", "therapy", "coordination")
KAFKA_BASE = int(os.environ.get("CARECOORD_CHAOS_KAFKA_PORT", "19092"))
PROXY_BASE = KAFKA_BASE + 100  # proxy i listens on PROXY_BASE + 2i, node i's proxied listener is the port after
HTTP_BASE = int(os.environ.get("CARECOORD_CHAOS_HTTP_PORT", "18001"))
HOME = stack.RUN / "chaos"
PROXIED = "pharmacy"  # the service whose Kafka connections go through the proxy


def nodes() -> list[stack.Node]:
    return stack.cluster_nodes(3, KAFKA_BASE, HOME / "kafka-3", proxy_base=PROXY_BASE)


def proxy_routes() -> list[tuple[int, int]]:
    """(where the proxy listens, the broker's proxied listener it forwards to), per node."""
    return [(n.proxied[1], n.proxied[0]) for n in nodes() if n.proxied is not None]


def database(service: str) -> str:
    return f"carecoord_chaos_{service}"


def owner_url(service: str | None) -> str:
    db = database(service) if service else "postgres"
    return (f"postgresql://{stack.PG_USER}:{stack.PG_PASSWORD}@127.0.0.1:{pg.PORT}/{db}"
            f"{stack.LOCAL_DSN_OPTIONS}")


def app_url(service: str) -> str:
    return (f"postgresql://{stack.PG_APP_USER}:{stack.pg_app_password()}@127.0.0.1:{pg.PORT}/"
            f"{database(service)}{stack.LOCAL_DSN_OPTIONS}")


@dataclass
class Platform:
    namespace: str
    env: dict[str, str]  # the admin's: migrations, checks, the replay
    ports: dict[str, int]
    logs: Path
    supervisor: Supervisor
    lines: list[str] = field(default_factory=list)  # what the supervisor said

    @property
    def bootstrap(self) -> str:
        return self.env["CARECOORD_KAFKA_BOOTSTRAP_SERVERS"]

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def group(self, name: str) -> str:
        return f"{self.namespace}{name}"

    @property
    def fault_points(self) -> Path:
        """Where the run arms the services' fault points (shared.faultpoints)."""
        return self.logs / "fault-points"


def start_cluster() -> float:
    """The cluster (formatted on first use; its store is kept between runs, the topics of a run
    live in the run's namespace); returns the seconds it took."""
    t0 = time.monotonic()
    stack.cluster_start(nodes(), timeout=240)
    return time.monotonic() - t0


def stop_cluster() -> None:
    """All nodes at once: the last of three stopped one by one would wait for a quorum."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(3) as pool:
        list(pool.map(stack.kafka_stop, nodes()))


async def fresh_databases() -> None:
    import asyncpg

    conn = await asyncpg.connect(owner_url(None).split("?")[0])
    try:
        for service in SERVICE_NAMES:
            await conn.execute(f"DROP DATABASE IF EXISTS {database(service)} WITH (FORCE)")
            await conn.execute(f"CREATE DATABASE {database(service)} OWNER {stack.PG_USER}")
    finally:
        await conn.close()


def admin_env(namespace: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(line.split("=", 1) for line in stack.env_lines(nodes()))
    env.update({
        "CARECOORD_TOPIC_NAMESPACE": namespace,
        # the load is one client per role and clinic, far above a person's rate
        "CARECOORD_RATE_LIMIT_PER_SECOND": "0",
        "CARECOORD_LOG_LEVEL": "WARNING",
        "CARECOORD_PG_URL": owner_url(None),
    })
    for service in SERVICE_NAMES:
        env[f"CARECOORD_{service.upper()}_DATABASE_URL"] = owner_url(service)
    return env


def service_env(env: dict[str, str], name: str) -> dict[str, str]:
    """As ``make up``: the service's own Kafka user and the runtime database role."""
    own = {k: v for k, v in env.items() if k != "CARECOORD_KAFKA_PASSWORD"}
    own[f"CARECOORD_{name.upper()}_DATABASE_URL"] = app_url(name)
    own["CARECOORD_KAFKA_USERNAME"] = name
    own["CARECOORD_KAFKA_PASSWORD_FILE"] = str(Path(env["CARECOORD_KAFKA_USERS_DIR"]) / name)
    if name == PROXIED:
        own["CARECOORD_KAFKA_BOOTSTRAP_SERVERS"] = ",".join(f"127.0.0.1:{listen}" for listen, _ in proxy_routes())
    return own


async def apply_acls(bootstrap: str, namespace: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    from shared.kafka.acls import apply_acls as apply
    from shared.kafka.acls import platform_acls
    from shared.kafka.security import client_security

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_security())
    await admin.start()
    try:
        await apply(admin, platform_acls(namespace=namespace))
    finally:
        await admin.close()


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=3) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def ready_peers(port: int) -> dict[str, dict]:
    """The ``peers`` entries of a service's /ready (shared.peers), whatever its status code."""
    import json

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=3) as resp:
            body = resp.read()
    except urllib.error.HTTPError as exc:
        body = exc.read()
    except OSError:
        return {}
    try:
        return dict(json.loads(body).get("peers", {}).get("services", {}))
    except (ValueError, AttributeError):
        return {}


async def start_services(namespace: str, say: Callable[[str], None]) -> Platform:
    env = admin_env(namespace)
    logs = HOME / "logs" / namespace.rstrip(".")
    logs.mkdir(parents=True, exist_ok=True)
    await fresh_databases()
    os.environ.update({k: env[k] for k in ("CARECOORD_KAFKA_USERNAME", "CARECOORD_KAFKA_PASSWORD")})
    await apply_acls(env["CARECOORD_KAFKA_BOOTSTRAP_SERVERS"], namespace)
    migrated = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "shared.cli", "db", "upgrade", "--grant-to", stack.PG_APP_USER],
        cwd=ROOT, env=env, capture_output=True, text=True)
    if migrated.returncode != 0:
        raise RuntimeError(f"migrations failed: {migrated.stderr[-2000:]}")
    ports = {name: HTTP_BASE + i for i, name in enumerate(SERVICE_NAMES)}
    status_file = logs / "supervisor-status.json"
    env["CARECOORD_SUPERVISOR_STATUS"] = str(status_file)  # each service's /ready shows its upstreams' restarts
    (logs / "fault-points").mkdir(exist_ok=True)
    env["CARECOORD_FAULT_POINTS"] = str(logs / "fault-points")  # the relay's crash after the ack, on demand
    platform = Platform(namespace, env, ports, logs, Supervisor(say=lambda line: None, status_file=status_file))
    platform.supervisor.say = lambda line: (platform.lines.append(f"{time.strftime('%H:%M:%S')} {line}"), say(line))

    def starter(name: str) -> Callable[[], subprocess.Popen]:
        def start() -> subprocess.Popen:
            with open(logs / f"{name}.log", "ab") as out:
                return subprocess.Popen([sys.executable, "-m", "shared.cli", "serve", name, "--port", str(ports[name])],
                                        cwd=ROOT, env=service_env(env, name), stdout=out, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        return start

    for name in SERVICE_NAMES:
        platform.supervisor.add(name, starter(name))
    deadline = time.monotonic() + 180
    while not all(await asyncio.gather(*(asyncio.to_thread(ready, p) for p in ports.values()))):
        platform.supervisor.poll()
        if time.monotonic() > deadline:
            platform.supervisor.stop()
            raise RuntimeError(f"services not ready in 180 s; see {logs}")
        await asyncio.sleep(0.5)
    return platform
