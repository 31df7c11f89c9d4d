"""Local infrastructure without Docker: a real Kafka broker (KRaft) and PostgreSQL.

Standard library only, so it runs before the virtualenv exists. Every command is
idempotent: starting a running stack or stopping a stopped one is fine.

    python deploy/local/stack.py start|stop|status|env [kafka|postgres]
"""

from __future__ import annotations

import argparse
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


class StackError(RuntimeError):
    pass


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


def kafka_config() -> Path:
    KAFKA_HOME.mkdir(parents=True, exist_ok=True)
    conf = KAFKA_HOME / "server.properties"
    admin, controller = kafka_password(ADMIN_USER), kafka_password(CONTROLLER_USER)
    conf.write_text(
        "\n".join([
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{CONTROLLER_PORT}",
            # Clients authenticate with SCRAM (credentials made at format time, one user per
            # service, see kafka_users) and may do only what their ACLs allow; nobody connects
            # anonymously. The controller listener, local to this node, authenticates with PLAIN.
            f"listeners=SASL_PLAINTEXT://127.0.0.1:{KAFKA_PORT},CONTROLLER://127.0.0.1:{CONTROLLER_PORT}",
            f"advertised.listeners=SASL_PLAINTEXT://127.0.0.1:{KAFKA_PORT}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=SASL_PLAINTEXT",
            "listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
            "sasl.enabled.mechanisms=SCRAM-SHA-256",
            "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-256",
            "sasl.mechanism.controller.protocol=PLAIN",
            "listener.name.controller.sasl.enabled.mechanisms=PLAIN",
            "listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule "
            f'required username="{CONTROLLER_USER}" password="{controller}" user_{CONTROLLER_USER}="{controller}";',
            "listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config="
            "org.apache.kafka.common.security.scram.ScramLoginModule "
            f'required username="{ADMIN_USER}" password="{admin}";',
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            f"super.users=User:{ADMIN_USER};User:{CONTROLLER_USER}",
            "allow.everyone.if.no.acl.found=false",
            f"log.dirs={KAFKA_DATA}",
            "num.partitions=6",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=6",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            # After a restart the controller refuses the broker's registration until the
            # previous session expires (9 s by default); a single local node need not wait.
            "broker.session.timeout.ms=2000",
            "broker.heartbeat.interval.ms=500",
            "auto.create.topics.enable=false",
            "log.retention.hours=-1",
            "",
        ])
    )
    log4j = KAFKA_HOME / "log4j2.properties"
    log4j.write_text(
        "\n".join([
            "status = warn",
            "appender.file.type = File",
            "appender.file.name = file",
            f"appender.file.fileName = {KAFKA_LOGS / 'server.log'}",
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


def java_cmd(main: str, *args: str) -> list[str]:
    java = os.environ.get("JAVA_HOME")
    exe = str(Path(java) / "bin" / "java") if java else "java"
    return [
        exe, "-Xmx512M", "-Xms512M", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true", f"-Dkafka.logs.dir={KAFKA_LOGS}",
        f"-Dlog4j2.configurationFile={KAFKA_HOME / 'log4j2.properties'}",
        "-cp", f"{KAFKA_LIB}/*", main, *args,
    ]


def kafka_pid() -> int | None:
    try:
        pid = int(KAFKA_PID.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return pid if b"kafka.Kafka" in cmdline else None


def kafka_start(timeout: float = 90.0) -> bool:
    """Start the broker unless it runs; returns True when this call started it."""
    if kafka_pid() is not None:
        wait_kafka(timeout)
        return False
    if port_open(KAFKA_PORT):
        if kafka_answers():
            log(f"a Kafka broker started elsewhere answers on {KAFKA_PORT}; using it")
            return False
        raise StackError(f"port {KAFKA_PORT} is taken by a process that is not a Kafka broker")
    kafka_jars()
    conf = kafka_config()
    KAFKA_LOGS.mkdir(parents=True, exist_ok=True)
    if (KAFKA_DATA / "meta.properties").exists() and not SCRAM_MARK.exists():
        # a store formatted before the broker required authentication has no SCRAM users, and
        # none can be added without an authenticated admin: set it aside and start afresh
        aside = KAFKA_HOME / f"data.unauthenticated-{int(time.time())}"
        KAFKA_DATA.rename(aside)
        log(f"the local broker now requires SCRAM credentials; its old data is kept in {aside}")
    if not (KAFKA_DATA / "meta.properties").exists():
        cluster_id = subprocess.run(java_cmd("kafka.tools.StorageTool", "random-uuid"),
                                    capture_output=True, text=True, check=True).stdout.strip()
        scram = [arg for user in KAFKA_USERS
                 for arg in ("--add-scram", f"SCRAM-SHA-256=[name={user},password={kafka_password(user)}]")]
        fmt = subprocess.run(java_cmd("kafka.tools.StorageTool", "format", "-t", cluster_id,
                                      "-c", str(conf), "-g", *scram), capture_output=True, text=True)
        if fmt.returncode != 0:
            raise StackError(f"formatting Kafka storage failed: {fmt.stdout}{fmt.stderr}")
        SCRAM_MARK.write_text(" ".join(KAFKA_USERS))
    server_log = KAFKA_LOGS / "server.log"
    mark = server_log.stat().st_size if server_log.exists() else 0
    with open(KAFKA_LOGS / "stdout.log", "ab") as out:
        proc = subprocess.Popen(java_cmd("kafka.Kafka", str(conf)), stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    KAFKA_PID.write_text(str(proc.pid))
    wait_kafka(timeout, since=mark, proc=proc)
    return True


def kafka_acls() -> None:
    """Each service's least-privilege ACLs (shared.kafka.acls) for the topics `make up` uses
    (no namespace), created as the admin; creating an existing binding changes nothing."""
    sys.path.insert(0, str(ROOT))
    import asyncio

    from aiokafka.admin import AIOKafkaAdminClient

    from shared.kafka.acls import apply_acls, platform_acls

    async def apply() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=f"127.0.0.1:{KAFKA_PORT}", security_protocol="SASL_PLAINTEXT",
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
        raise StackError(f"creating the Kafka ACLs failed: {type(exc).__name__}: {exc}") from exc


def wait_kafka(timeout: float, since: int = 0, proc: subprocess.Popen | None = None) -> None:
    server_log = KAFKA_LOGS / "server.log"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise StackError(f"Kafka exited with code {proc.returncode}; last log lines:\n"
                             f"{tail(server_log)}\n{tail(KAFKA_LOGS / 'stdout.log')}")
        started = proc is None or (server_log.exists() and "Kafka Server started" in
                                   server_log.read_text(errors="replace")[since:])
        if started and kafka_answers():
            return
        time.sleep(0.25)
    raise StackError(f"Kafka did not become ready in {timeout:.0f} s; last log lines:\n"
                     f"{tail(server_log)}")


def kafka_stop() -> None:
    pid = kafka_pid()
    if pid is None:
        KAFKA_PID.unlink(missing_ok=True)
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and kafka_pid() is not None:
        time.sleep(0.2)
    if kafka_pid() is not None:
        log("Kafka did not stop in 30 s; killing it")
        os.kill(pid, signal.SIGKILL)
    KAFKA_PID.unlink(missing_ok=True)


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


def pg_create_cluster() -> tuple[str, str, str]:
    """The server is installed but has no cluster on 5432 (removed, or never created)."""
    versions = sorted((p.name for p in Path("/usr/lib/postgresql").glob("*") if p.name.isdigit()), key=int)
    if not versions:
        raise StackError("PostgreSQL server binaries not found under /usr/lib/postgresql")
    log(f"creating PostgreSQL {versions[-1]} cluster 'main' on port {PG_PORT}")
    res = subprocess.run(["pg_createcluster", versions[-1], "main", "--port", str(PG_PORT)],
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


def env_lines() -> list[str]:
    base = f"postgresql://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{PG_PORT}"
    lines = [
        f"CARECOORD_KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:{KAFKA_PORT}",
        # the shell (and the tests) speak to Kafka as the admin; `make up` gives each service
        # its own user, whose password is the file of that name in CARECOORD_KAFKA_USERS_DIR
        f"CARECOORD_KAFKA_USERNAME={ADMIN_USER}",
        f"CARECOORD_KAFKA_PASSWORD={kafka_password(ADMIN_USER)}",
        f"CARECOORD_KAFKA_USERS_DIR={KAFKA_USERS_DIR}",
        f"CARECOORD_PG_URL={base}/postgres{LOCAL_DSN_OPTIONS}",
        f"CARECOORD_JWT_SECRET={jwt_secret()}",
        f"CARECOORD_AUDIT_KEY={_secret(AUDIT_KEY_FILE)}",
    ]
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
    if "kafka" in parts:
        if kafka_start():
            marks.add("kafka")
        kafka_acls()
    STARTED_MARK.write_text(" ".join(sorted(marks)))
    log(f"ready in {time.monotonic() - t0:.1f} s: Kafka 127.0.0.1:{KAFKA_PORT}, "
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
    if "kafka" in parts:
        kafka_stop()
    if "postgres" in parts:
        pg_stop()
    STARTED_MARK.unlink(missing_ok=True)
    log("stopped")


def status() -> int:
    pid = kafka_pid()
    kafka = f"running (pid {pid})" if pid and kafka_answers() else "stopped"
    if pid is None and kafka_answers():
        kafka = "a broker started elsewhere answers"
    cluster = pg_cluster()
    pg = "online" if cluster and cluster[2] == "online" and port_open(PG_PORT) else "stopped"
    print(f"kafka     127.0.0.1:{KAFKA_PORT}  {kafka}")
    print(f"postgres  127.0.0.1:{PG_PORT}  {pg}")
    return 0 if kafka != "stopped" and pg == "online" else 3


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
