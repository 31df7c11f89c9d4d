"""Local infrastructure without Docker: a real Kafka broker (KRaft) and PostgreSQL.

Standard library only, so it runs before the virtualenv exists. Every command is
idempotent: starting a running stack or stopping a stopped one is fine.

    python deploy/local/stack.py start|stop|status|env [kafka|postgres]

``CARECOORD_KAFKA_BROKERS=3`` (``make up KAFKA_BROKERS=3``) runs three KRaft nodes instead of
one, each a broker and a controller (a three-voter quorum), on consecutive port pairs from
``CARECOORD_KAFKA_PORT``; topics are then created with three replicas and
``min.insync.replicas=2``, so an acknowledged event survives the loss of any one broker. Each
node keeps its store in a folder of its own (``.run/kafka-3/node-N``): the single broker's
store is left as it is.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import os
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUN = Path(os.environ.get("CARECOORD_RUN_DIR", ROOT / ".run"))
KAFKA_HOME = RUN / "kafka"
KAFKA_LIB = KAFKA_HOME / "lib"
KAFKA_DATA = KAFKA_HOME / "data"
KAFKA_LOGS = KAFKA_HOME / "logs"
KAFKA_PID = KAFKA_HOME / "broker.pid"
SCRAM_MARK = KAFKA_DATA / "scram-users"  # written when the store was formatted with the users
KAFKA_POM = Path(__file__).resolve().parent / "kafka" / "pom.xml"
KAFKA_PORT = int(os.environ.get("CARECOORD_KAFKA_PORT", "9092"))
CONTROLLER_PORT = KAFKA_PORT + 1
KAFKA_BROKERS = int(os.environ.get("CARECOORD_KAFKA_BROKERS", "1"))
# A cluster's nodes share two cores with everything else: a smaller heap than the lone broker's.
CLUSTER_HEAP = os.environ.get("CARECOORD_KAFKA_HEAP", "384M")
PG_PORT = 5432
PG_USER = "carecoord"
PG_PASSWORD = "carecoord"
PG_APP_USER = "carecoord_app"  # the services' runtime role (make up)
DATABASES = [f"carecoord_{s}" for s in ("assessment", "pharmacy", "therapy", "coordination")]
# Loopback needs no TLS; libpq's default (sslmode=prefer) would encrypt every local query.
LOCAL_DSN_OPTIONS = "?sslmode=disable"
SECRET_FILE = RUN / "secrets" / "jwt-secret"
# One SCRAM user per service (its ACLs: shared.kafka.acls), one for a dashboard, and the admin
# (a super user: the tests, the carecoord commands an operator runs, creating the ACLs).
KAFKA_USERS_DIR = RUN / "secrets" / "kafka"
ADMIN_USER = "admin"
CONTROLLER_USER = "controller"
KAFKA_USERS = (ADMIN_USER, "assessment", "pharmacy", "therapy", "coordination", "dashboard")
AUDIT_KEY_FILE = RUN / "secrets" / "audit-key"
STARTED_MARK = RUN / "started-by-stack"
# What make up's supervisor did (deploy/local/supervise.py): `status` prints it, /ready shows it.
SUPERVISOR_STATUS = RUN / "supervise" / "status.json"


class StackError(RuntimeError):
    pass


@dataclass(frozen=True)
class Node:
    """One Kafka process: where it keeps its store and logs, and where it listens.

    ``proxied`` (listen port, advertised port) adds a third listener whose advertised address
    is a TCP proxy's: a client bootstrapped there reaches every node through the proxy, which
    can then cut it off from the cluster (the chaos run's network fault)."""

    node_id: int
    home: Path
    port: int
    controller_port: int
    voters: str
    replicas: int = 1  # of the internal topics (offsets, transactions) and new topics' default
    min_insync: int = 1
    heap: str = "512M"
    proxied: tuple[int, int] | None = None

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def pid_file(self) -> Path:
        return self.home / "broker.pid"

    @property
    def scram_mark(self) -> Path:
        return self.data / "scram-users"

    @property
    def name(self) -> str:
        return f"kafka-{self.node_id}" if self.replicas > 1 else "kafka"


SINGLE = Node(1, KAFKA_HOME, KAFKA_PORT, CONTROLLER_PORT, f"1@127.0.0.1:{CONTROLLER_PORT}")


def cluster_nodes(brokers: int = 3, base_port: int = KAFKA_PORT, home: Path | None = None,
                  proxy_base: int | None = None) -> list[Node]:
    """``brokers`` combined broker+controller nodes: node N listens on ``base_port + 2(N-1)``,
    its controller on the port after; with ``proxy_base``, its proxied listener on
    ``proxy_base + 2(N-1) + 1``, advertised as ``proxy_base + 2(N-1)`` (the proxy's port)."""
    home = home or RUN / ("kafka-3" if base_port == 9092 else f"kafka-3-{base_port}")
    ports = [(base_port + 2 * i, base_port + 2 * i + 1) for i in range(brokers)]
    voters = ",".join(f"{i + 1}@127.0.0.1:{c}" for i, (_, c) in enumerate(ports))
    replicas = min(3, brokers)
    return [Node(i + 1, home / f"node-{i + 1}", p, c, voters, replicas, max(1, replicas - 1), CLUSTER_HEAP,
                 None if proxy_base is None else (proxy_base + 2 * i + 1, proxy_base + 2 * i))
            for i, (p, c) in enumerate(ports)]


def configured_nodes() -> list[Node]:
    """The layout the environment asks for: the lone broker, or a cluster."""
    return [SINGLE] if KAFKA_BROKERS <= 1 else cluster_nodes(KAFKA_BROKERS)


def bootstrap(nodes: list[Node]) -> str:
    return ",".join(f"127.0.0.1:{n.port}" for n in nodes)


def log(msg: str) -> None:
    print(f"[stack] {msg}", file=sys.stderr, flush=True)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def kafka_answers(port: int = KAFKA_PORT) -> bool:
    """True when a Kafka broker answers an ApiVersions request (v0) on ``port``."""
    client = b"carecoord-stack"
    request = struct.pack(">hhih", 18, 0, 7, len(client)) + client
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(struct.pack(">i", len(request)) + request)
            size = struct.unpack(">i", _recv(sock, 4))[0]
            body = _recv(sock, size)
    except (OSError, struct.error):
        return False
    correlation, error = struct.unpack(">ih", body[:6])
    return correlation == 7 and error == 0


def _recv(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise OSError("connection closed")
        data += chunk
    return data


def tail(path: Path, lines: int = 15) -> str:
    if not path.exists():
        return "(no log file)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# --------------------------------------------------------------------------- Kafka


def kafka_jars() -> None:
    """Fetch the broker's jars once; a second start reuses the cache."""
    if KAFKA_LIB.is_dir() and any(KAFKA_LIB.glob("kafka_2.13-*.jar")):
        return
    if shutil.which("mvn") is None:
        raise StackError("Maven (mvn) is needed once to fetch the Kafka jars; install maven")
    log("fetching Kafka broker jars from Maven Central (first start only)")
    tmp = KAFKA_HOME / "lib.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    cmd = ["mvn", "-q", "-B", "-f", str(KAFKA_POM), "dependency:copy-dependencies",
           "-DincludeScope=runtime", f"-DoutputDirectory={tmp}"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise StackError(f"could not fetch Kafka jars:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    tmp.rename(KAFKA_LIB)


def kafka_config(node: Node = SINGLE) -> Path:
    node.home.mkdir(parents=True, exist_ok=True)
    conf = node.home / "server.properties"
    admin, controller = kafka_password(ADMIN_USER), kafka_password(CONTROLLER_USER)
    listeners = [f"SASL_PLAINTEXT://127.0.0.1:{node.port}", f"CONTROLLER://127.0.0.1:{node.controller_port}"]
    advertised = [f"SASL_PLAINTEXT://127.0.0.1:{node.port}"]
    protocols = "CONTROLLER:SASL_PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT"
    if node.proxied is not None:
        listeners.append(f"PROXIED://127.0.0.1:{node.proxied[0]}")
        advertised.append(f"PROXIED://127.0.0.1:{node.proxied[1]}")
        protocols += ",PROXIED:SASL_PLAINTEXT"
    conf.write_text(
        "\n".join([
            "process.roles=broker,controller",
            f"node.id={node.node_id}",
            f"controller.quorum.voters={node.voters}",
            # Clients authenticate with SCRAM (credentials made at format time, one user per
            # service, see kafka_users) and may do only what their ACLs allow; nobody connects
            # anonymously. The controller listener authenticates with PLAIN (between the nodes
            # of a cluster too).
            f"listeners={','.join(listeners)}",
            f"advertised.listeners={','.join(advertised)}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=SASL_PLAINTEXT",
            f"listener.security.protocol.map={protocols}",
            "sasl.enabled.mechanisms=SCRAM-SHA-256",
            "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-256",
            "sasl.mechanism.controller.protocol=PLAIN",
            "listener.name.controller.sasl.enabled.mechanisms=PLAIN",
            "listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule "
            f'required username="{CONTROLLER_USER}" password="{controller}" user_{CONTROLLER_USER}="{controller}";',
            "listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config="
            "org.apache.kafka.common.security.scram.ScramLoginModule "
            f'required username="{ADMIN_USER}" password="{admin}";',
            *(["listener.name.proxied.scram-sha-256.sasl.jaas.config="
               "org.apache.kafka.common.security.scram.ScramLoginModule "
               f'required username="{ADMIN_USER}" password="{admin}";'] if node.proxied else []),
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            f"super.users=User:{ADMIN_USER};User:{CONTROLLER_USER}",
            "allow.everyone.if.no.acl.found=false",
            f"log.dirs={node.data}",
            "num.partitions=6",
            f"offsets.topic.replication.factor={node.replicas}",
            "offsets.topic.num.partitions=6",
            f"transaction.state.log.replication.factor={node.replicas}",
            f"transaction.state.log.min.isr={node.min_insync}",
            f"share.coordinator.state.topic.replication.factor={node.replicas}",
            f"share.coordinator.state.topic.min.isr={node.min_insync}",
            "group.initial.rebalance.delay.ms=0",
            # After a restart the controller refuses the broker's registration until the
            # previous session expires (9 s by default); a single local node need not wait.
            # In a cluster the same timeout is how soon a dead broker's partitions get new
            # leaders; a little longer there, so a busy machine's pause is not a failover.
            f"broker.session.timeout.ms={2000 if node.replicas == 1 else 4000}",
            "broker.heartbeat.interval.ms=500",
            *([f"default.replication.factor={node.replicas}", f"min.insync.replicas={node.min_insync}",
               # a replica that lost its log to a SIGKILL never becomes leader: no acked record lost
               "unclean.leader.election.enable=false"] if node.replicas > 1 else []),
            "auto.create.topics.enable=false",
            "log.retention.hours=-1",
            "",
        ])
    )
    log4j = node.home / "log4j2.properties"
    log4j.write_text(
        "\n".join([
            "status = warn",
            "appender.file.type = File",
            "appender.file.name = file",
            f"appender.file.fileName = {node.logs / 'server.log'}",
            "appender.file.layout.type = PatternLayout",
            "appender.file.layout.pattern = [%d] %p %m (%c)%n",
            "rootLogger.level = INFO",
            "rootLogger.appenderRef.file.ref = file",
            "logger.kafka.name = kafka",
            "logger.kafka.level = INFO",
            "logger.apache.name = org.apache.kafka",
            "logger.apache.level = WARN",
            "",
        ])
    )
    return conf


def java_cmd(main: str, *args: str, node: Node = SINGLE) -> list[str]:
    java = os.environ.get("JAVA_HOME")
    exe = str(Path(java) / "bin" / "java") if java else "java"
    return [
        exe, f"-Xmx{node.heap}", f"-Xms{node.heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true", f"-Dkafka.logs.dir={node.logs}",
        f"-Dlog4j2.configurationFile={node.home / 'log4j2.properties'}",
        "-cp", f"{KAFKA_LIB}/*", main, *args,
    ]


def kafka_pid(node: Node = SINGLE) -> int | None:
    try:
        pid = int(node.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return pid if b"kafka.Kafka" in cmdline else None


def kafka_start(timeout: float = 90.0, node: Node = SINGLE) -> bool:
    """Start the broker unless it runs; returns True when this call started it."""
    if kafka_pid(node) is not None:
        wait_kafka(timeout, node=node)
        return False
    if port_open(node.port):
        if kafka_answers(node.port):
            log(f"a Kafka broker started elsewhere answers on {node.port}; using it")
            return False
        raise StackError(f"port {node.port} is taken by a process that is not a Kafka broker")
    kafka_jars()
    kafka_format(node)
    proc, mark = kafka_launch(node)
    wait_kafka(timeout, since=mark, proc=proc, node=node)
    return True


def kafka_format(node: Node = SINGLE, cluster_id: str | None = None) -> Path:
    """The node's configuration, and its store formatted with the SCRAM users unless it is
    (every node of a cluster with the same ``cluster_id``)."""
    conf = kafka_config(node)
    node.logs.mkdir(parents=True, exist_ok=True)
    if (node.data / "meta.properties").exists() and not node.scram_mark.exists():
        # a store formatted before the broker required authentication has no SCRAM users, and
        # none can be added without an authenticated admin: set it aside and start afresh
        aside = node.home / f"data.unauthenticated-{int(time.time())}"
        node.data.rename(aside)
        log(f"the local broker now requires SCRAM credentials; its old data is kept in {aside}")
    if not (node.data / "meta.properties").exists():
        cluster_id = cluster_id or subprocess.run(java_cmd("kafka.tools.StorageTool", "random-uuid", node=node),
                                                  capture_output=True, text=True, check=True).stdout.strip()
        scram = [arg for user in KAFKA_USERS
                 for arg in ("--add-scram", f"SCRAM-SHA-256=[name={user},password={kafka_password(user)}]")]
        fmt = subprocess.run(java_cmd("kafka.tools.StorageTool", "format", "-t", cluster_id,
                                      "-c", str(conf), "-g", *scram, node=node), capture_output=True, text=True)
        if fmt.returncode != 0:
            raise StackError(f"formatting Kafka storage failed: {fmt.stdout}{fmt.stderr}")
        node.scram_mark.write_text(" ".join(KAFKA_USERS))
    return conf


def kafka_launch(node: Node = SINGLE) -> tuple[subprocess.Popen, int]:
    """The node's process, started on its formatted store; and where its log stood before."""
    server_log = node.logs / "server.log"
    mark = server_log.stat().st_size if server_log.exists() else 0
    with open(node.logs / "stdout.log", "ab") as out:
        proc = subprocess.Popen(java_cmd("kafka.Kafka", str(node.home / "server.properties"), node=node),
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    node.pid_file.write_text(str(proc.pid))
    return proc, mark


def cluster_start(nodes: list[Node], timeout: float = 120.0) -> bool:
    """Every node of a cluster that is not running, started together (a node alone cannot
    elect a controller); True when this call started any."""
    down = [n for n in nodes if kafka_pid(n) is None]
    for n in down:
        if port_open(n.port):
            raise StackError(f"port {n.port} is taken by a process that is not this cluster's node {n.node_id}")
    if down:
        kafka_jars()
        id_file = nodes[0].home.parent / "cluster-id"
        if not id_file.exists():
            id_file.parent.mkdir(parents=True, exist_ok=True)
            id_file.write_text(subprocess.run(java_cmd("kafka.tools.StorageTool", "random-uuid"),
                                              capture_output=True, text=True, check=True).stdout.strip())
        cluster_id = id_file.read_text().strip()
        # each format is a JVM of its own: side by side, not one after another
        with concurrent.futures.ThreadPoolExecutor(len(down)) as formats:
            list(formats.map(lambda n: kafka_format(n, cluster_id), down))
        launched = [(n, *kafka_launch(n)) for n in down]
        for n, proc, mark in launched:
            wait_kafka(timeout, since=mark, proc=proc, node=n)
    for n in nodes:
        if n not in down:
            wait_kafka(timeout, node=n)
    return bool(down)


def cluster_stop(nodes: list[Node]) -> None:
    for n in nodes:
        kafka_stop(n)


def kafka_acls(servers: str = f"127.0.0.1:{KAFKA_PORT}") -> None:
    """Each service's least-privilege ACLs (shared.kafka.acls) for the topics `make up` uses
    (no namespace), created as the admin; creating an existing binding changes nothing."""
    sys.path.insert(0, str(ROOT))
    import asyncio

    from aiokafka.admin import AIOKafkaAdminClient

    from shared.kafka.acls import apply_acls, platform_acls

    async def apply() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=servers, security_protocol="SASL_PLAINTEXT",
                                    sasl_mechanism="SCRAM-SHA-256", sasl_plain_username=ADMIN_USER,
                                    sasl_plain_password=kafka_password(ADMIN_USER))
        await admin.start()
        try:
            await apply_acls(admin, platform_acls())
        finally:
            await admin.close()

    try:
        asyncio.run(apply())
    except Exception as exc:
        hint = ("; a broker this checkout did not start answers on the port and refuses its credentials "
                "(stop that stack, or set CARECOORD_KAFKA_PORT to another port)"
                if "Authentication failed" in str(exc) or "Unable to bootstrap" in str(exc) else "")
        raise StackError(f"creating the Kafka ACLs failed: {type(exc).__name__}: {exc}{hint}") from exc


def wait_kafka(timeout: float, since: int = 0, proc: subprocess.Popen | None = None,
               node: Node = SINGLE) -> None:
    server_log = node.logs / "server.log"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise StackError(f"Kafka exited with code {proc.returncode}; last log lines:\n"
                             f"{tail(server_log)}\n{tail(node.logs / 'stdout.log')}")
        started = proc is None or (server_log.exists() and "Kafka Server started" in
                                   server_log.read_text(errors="replace")[since:])
        if started and kafka_answers(node.port):
            return
        time.sleep(0.25)
    raise StackError(f"Kafka did not become ready in {timeout:.0f} s; last log lines:\n"
                     f"{tail(server_log)}")


def kafka_stop(node: Node = SINGLE, sig: int = signal.SIGTERM) -> None:
    pid = kafka_pid(node)
    if pid is None:
        node.pid_file.unlink(missing_ok=True)
        return
    os.kill(pid, sig)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and kafka_pid(node) is not None:
        time.sleep(0.2)
    if kafka_pid(node) is not None:
        log("Kafka did not stop in 30 s; killing it")
        os.kill(pid, signal.SIGKILL)
    node.pid_file.unlink(missing_ok=True)


# --------------------------------------------------------------------------- PostgreSQL


def _as_postgres(args: list[str], **kw) -> subprocess.CompletedProcess:
    prefix: list[str] = []
    if os.geteuid() == 0:
        prefix = ["runuser", "-u", "postgres", "--"]
    elif os.environ.get("USER") != "postgres":
        prefix = ["sudo", "-u", "postgres"]
    return subprocess.run(prefix + args, capture_output=True, text=True, **kw)


def pg_cluster() -> tuple[str, str, str] | None:
    """(version, name, status) of the cluster on port 5432, if Debian's tools know one."""
    if shutil.which("pg_lsclusters") is None:
        return None
    out = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[2] == str(PG_PORT):
            return parts[0], parts[1], parts[3]
    return None


def pg_install() -> None:
    if os.geteuid() != 0:
        raise StackError("PostgreSQL is not installed; run: sudo apt-get install -y postgresql")
    log("installing PostgreSQL with apt (first start only)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-q"], check=False, env=env, capture_output=True)
    res = subprocess.run(["apt-get", "install", "-y", "-q", "postgresql"], env=env,
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise StackError(f"apt-get install postgresql failed:\n{res.stderr[-2000:]}")


def pg_version() -> str:
    """The newest PostgreSQL server Debian's packages installed (its binaries: ``pg_bin``)."""
    versions = sorted((p.name for p in Path("/usr/lib/postgresql").glob("*") if p.name.isdigit()), key=int)
    if not versions:
        raise StackError("PostgreSQL server binaries not found under /usr/lib/postgresql")
    return versions[-1]


def pg_bin() -> Path:
    return Path("/usr/lib/postgresql") / pg_version() / "bin"


def pg_create_cluster() -> tuple[str, str, str]:
    """The server is installed but has no cluster on 5432 (removed, or never created)."""
    version = pg_version()
    log(f"creating PostgreSQL {version} cluster 'main' on port {PG_PORT}")
    res = subprocess.run(["pg_createcluster", version, "main", "--port", str(PG_PORT)],
                         capture_output=True, text=True)
    cluster = pg_cluster()
    if cluster is None:
        raise StackError(f"could not create a PostgreSQL cluster: {res.stderr.strip()[-500:]}")
    return cluster


def pg_start(timeout: float = 60.0) -> bool:
    cluster = pg_cluster()
    if cluster is None:
        if shutil.which("pg_lsclusters") is None:
            pg_install()
        cluster = pg_cluster() or pg_create_cluster()
    version, name, status = cluster
    started = False
    if status != "online":
        res = subprocess.run(["pg_ctlcluster", version, name, "start"], capture_output=True, text=True)
        if res.returncode != 0 and "already running" not in res.stderr:
            raise StackError(f"PostgreSQL {version}/{name} did not start: {res.stderr.strip()}")
        started = True
    deadline = time.monotonic() + timeout
    while not port_open(PG_PORT):
        if time.monotonic() > deadline:
            raise StackError(f"PostgreSQL did not accept connections in {timeout:.0f} s; last log "
                             f"lines:\n{tail(Path(f'/var/log/postgresql/postgresql-{version}-{name}.log'))}")
        time.sleep(0.2)
    pg_provision()
    return started


def pg_provision() -> None:
    """Roles and one database per service; idempotent. ``carecoord`` owns the databases and
    runs the migrations; the services run as ``carecoord_app``, which owns nothing and gets
    only the privileges ``carecoord db upgrade --grant-to`` gives it (shared.migrations.grants)."""
    sql = (f"DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='{PG_USER}') THEN "
           f"CREATE ROLE {PG_USER} LOGIN SUPERUSER PASSWORD '{PG_PASSWORD}'; END IF; END$$;")
    res = _as_postgres(["psql", "-v", "ON_ERROR_STOP=1", "-qAtc", sql])
    if res.returncode != 0:
        raise StackError(f"creating the {PG_USER} role failed: {res.stderr.strip()}")
    app = pg_app_password()
    sql = (f"DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='{PG_APP_USER}') THEN "
           f"CREATE ROLE {PG_APP_USER} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE; END IF; END$$; "
           f"ALTER ROLE {PG_APP_USER} PASSWORD '{app}'")
    res = _as_postgres(["psql", "-v", "ON_ERROR_STOP=1", "-qAtc", sql])
    if res.returncode != 0:
        raise StackError(f"creating the {PG_APP_USER} role failed: {res.stderr.strip()}")
    existing = _as_postgres(["psql", "-qAtc", "SELECT datname FROM pg_database"]).stdout.split()
    for db in DATABASES:
        if db not in existing:
            res = _as_postgres(["psql", "-qAtc", f"CREATE DATABASE {db} OWNER {PG_USER}"])
            if res.returncode != 0:
                raise StackError(f"creating database {db} failed: {res.stderr.strip()}")


def pg_stop() -> None:
    cluster = pg_cluster()
    if cluster and cluster[2] == "online":
        subprocess.run(["pg_ctlcluster", cluster[0], cluster[1], "stop"], capture_output=True)


# --------------------------------------------------------------------------- commands


def _secret(path: Path) -> str:
    """The secret in ``path``, made on first use inside a 0700 folder and 0600 from the moment
    the file exists: written under a temporary name opened with its mode (write_text then
    chmod leaves it 0644, readable by every local user, until the chmod), then linked into
    place, so nobody ever reads a half-written secret either."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.parent.chmod(0o700)  # a folder an older version made with the default mode
    if not path.exists():
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(48))
            with contextlib.suppress(FileExistsError):  # another start made it first: theirs stands
                os.link(draft, path)
        finally:
            draft.unlink()
    path.chmod(0o600)  # a file an older version left wider
    return path.read_text().strip()


def jwt_secret() -> str:
    return _secret(SECRET_FILE)


def pg_app_password() -> str:
    return _secret(RUN / "secrets" / "pg-app")


def app_database_url(service: str) -> str:
    """The URL a service of `make up` connects with: the runtime role, not the owner."""
    return (f"postgresql://{PG_APP_USER}:{pg_app_password()}@127.0.0.1:{PG_PORT}/carecoord_{service}"
            f"{LOCAL_DSN_OPTIONS}")


def kafka_password(user: str) -> str:
    return _secret(KAFKA_USERS_DIR / user)


def env_lines(nodes: list[Node] | None = None) -> list[str]:
    base = f"postgresql://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{PG_PORT}"
    nodes = nodes or configured_nodes()
    lines = [
        f"CARECOORD_KAFKA_BOOTSTRAP_SERVERS={bootstrap(nodes)}",
        # the shell (and the tests) speak to Kafka as the admin; `make up` gives each service
        # its own user, whose password is the file of that name in CARECOORD_KAFKA_USERS_DIR
        f"CARECOORD_KAFKA_USERNAME={ADMIN_USER}",
        f"CARECOORD_KAFKA_PASSWORD={kafka_password(ADMIN_USER)}",
        f"CARECOORD_KAFKA_USERS_DIR={KAFKA_USERS_DIR}",
        f"CARECOORD_PG_URL={base}/postgres{LOCAL_DSN_OPTIONS}",
        f"CARECOORD_JWT_SECRET={jwt_secret()}",
        f"CARECOORD_AUDIT_KEY={_secret(AUDIT_KEY_FILE)}",
    ]
    if len(nodes) > 1:
        # every topic the services create: on three brokers, acknowledged by two of them
        lines += [f"CARECOORD_TOPIC_REPLICATION_FACTOR={nodes[0].replicas}",
                  f"CARECOORD_TOPIC_MIN_INSYNC_REPLICAS={nodes[0].min_insync}"]
    for db in DATABASES:
        svc = db.removeprefix("carecoord_").upper()
        lines.append(f"CARECOORD_{svc}_DATABASE_URL={base}/{db}{LOCAL_DSN_OPTIONS}")
    return lines


def start(parts: set[str]) -> None:
    RUN.mkdir(parents=True, exist_ok=True)
    jwt_secret()
    t0 = time.monotonic()
    marks = set(STARTED_MARK.read_text().split()) if STARTED_MARK.exists() else set()
    if "postgres" in parts and pg_start():
        marks.add("postgres")
    nodes = configured_nodes()
    if "kafka" in parts and len(nodes) == 1:
        if kafka_start():
            marks.add("kafka")
        kafka_acls()
    elif "kafka" in parts:
        if cluster_start(nodes):
            marks.add("kafka-3")
        kafka_acls(bootstrap(nodes))
    STARTED_MARK.write_text(" ".join(sorted(marks)))
    log(f"ready in {time.monotonic() - t0:.1f} s: Kafka {bootstrap(nodes)}, "
        f"PostgreSQL 127.0.0.1:{PG_PORT}")


@contextlib.contextmanager
def session(keep: bool = False) -> Iterator[dict[str, str]]:
    """Start what is not running, yield the environment pointing at it, then stop what this
    session started (unless ``keep``), leaving a stack found running as it was."""
    before = started_parts()
    start({"kafka", "postgres"})
    ours = started_parts() - before
    env = dict(os.environ)
    env.update(line.split("=", 1) for line in env_lines())
    try:
        yield env
    finally:
        if ours and not keep:
            stop(ours)


def started_parts() -> set[str]:
    return set(STARTED_MARK.read_text().split()) if STARTED_MARK.exists() else set()


def stop(parts: set[str]) -> None:
    """``kafka`` is the layout the environment names; ``kafka-3`` the default cluster whatever
    it names (what `make down` stops as well)."""
    if "kafka" in parts and KAFKA_BROKERS <= 1:
        kafka_stop()
    if "kafka-3" in parts or ("kafka" in parts and KAFKA_BROKERS > 1):
        cluster_stop(cluster_nodes(max(3, KAFKA_BROKERS)))
    if "postgres" in parts:
        pg_stop()
    STARTED_MARK.unlink(missing_ok=True)
    log("stopped")


def status() -> int:
    kafka = "stopped"
    for node in configured_nodes():
        pid = kafka_pid(node)
        kafka = f"running (pid {pid})" if pid and kafka_answers(node.port) else "stopped"
        if pid is None and kafka_answers(node.port):
            kafka = "a broker started elsewhere answers"
        print(f"{node.name:<9} 127.0.0.1:{node.port}  {kafka}")
    cluster = pg_cluster()
    pg = "online" if cluster and cluster[2] == "online" and port_open(PG_PORT) else "stopped"
    print(f"postgres  127.0.0.1:{PG_PORT}  {pg}")
    for line in supervised_lines():
        print(line)
    return 0 if kafka != "stopped" and pg == "online" else 3


def supervised_lines(path: Path = SUPERVISOR_STATUS) -> list[str]:
    """make up's services as its supervisor last wrote them: state, pid, restarts, last exit."""
    import json

    try:
        status = json.loads(path.read_text())
        services = dict(status["services"])
    except (OSError, ValueError, KeyError, TypeError):
        return []
    lines = [f"services (make up's supervisor, as of {status.get('written_at')}):"]
    for name, s in services.items():
        last = s.get("last_exit")
        exit_text = f", last exit code {last['code']} at {last['at']}" if last else ""
        lines.append(f"  {name:<13} {s.get('state')} (pid {s.get('pid')}), restarts {s.get('restarts')}{exit_text}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stack", description=__doc__)
    parser.add_argument("command", choices=["start", "stop", "status", "env"])
    parser.add_argument("parts", nargs="*", help="kafka and/or postgres (default both)")
    args = parser.parse_args(argv)
    parts = set(args.parts) or {"kafka", "postgres"}
    if not parts <= {"kafka", "postgres"}:
        parser.error("parts are: kafka, postgres")
    try:
        if args.command == "start":
            start(parts)
        elif args.command == "stop":
            stop(parts)
        elif args.command == "status":
            return status()
        elif args.command == "env":
            print("\n".join(env_lines()))
    except StackError as exc:
        log(f"error: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
