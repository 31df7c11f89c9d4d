"""``carecoord status``: what an operator checks first, for a running stack or a deployment.

For each service: readiness (``/ready``), the outbox backlog and the age of its oldest unsent
row (``/metrics``), each consumer's status and lag (``/ready``); and for the platform, how
many records wait in each dead-letter topic (``<topic>.dlq``: end minus beginning offsets,
read from Kafka). Exits 1 when a service is unreachable or not ready, so a deploy script or
a cron job can act on it.

    carecoord status                                   the local stack (shared.services ports)
    carecoord status --url pharmacy=https://ph.example:8443 --url coordination=...
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families

from shared.kafka.security import client_security
from shared.services import SERVICES

HTTP_TIMEOUT = 10.0  # a service's /ready waits up to 3 s per dependency it checks
KAFKA_TIMEOUT = 15.0


@dataclass
class ServiceStatus:
    name: str
    url: str
    reachable: bool = False
    ready: bool = False
    error: str | None = None
    outbox_backlog: float | None = None
    outbox_oldest_age_seconds: float | None = None
    consumers: list[dict[str, Any]] = field(default_factory=list)


def _get(url: str, timeout: float) -> tuple[int, str]:
    """Status and body; a 503 from /ready is an answer, not an error."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def service_status(name: str, url: str, timeout: float = HTTP_TIMEOUT) -> ServiceStatus:
    status = ServiceStatus(name, url)
    base = url.rstrip("/")
    try:
        code, body = _get(f"{base}/ready", timeout)
    except Exception as exc:  # refused, timed out, DNS: the service cannot be asked at all
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        status.error = f"cannot be reached ({type(reason).__name__})"
        return status
    status.reachable = True
    try:
        answer = json.loads(body)
        status.consumers = list(answer.get("checks", {}).get("consumers", []))
        failing = [f"{key}: {value}" for key, value in answer.get("checks", {}).items()
                   if key != "consumers" and value != "ok"]
    except (ValueError, AttributeError):
        answer, failing = {}, [f"unexpected /ready answer (HTTP {code})"]
    status.ready = code == 200 and answer.get("status") == "ready"
    if not status.ready:
        status.error = "; ".join(failing) or None
    try:
        _, text = _get(f"{base}/metrics", timeout)
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "carecoord_outbox_backlog":
                    status.outbox_backlog = sample.value
                elif sample.name == "carecoord_outbox_oldest_unsent_age_seconds":
                    status.outbox_oldest_age_seconds = sample.value
    except Exception:  # metrics are a bonus here; readiness already answered
        pass
    return status


async def dlq_counts(bootstrap: str, namespace: str = "") -> dict[str, int]:
    """Records held in each of the platform's dead-letter topics (those of ``namespace``)."""
    admin = AIOKafkaAdminClient(**client_security(), bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(**client_security(),
                                bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await admin.start()
    try:
        await consumer.start()
        topics = sorted(t for t in await admin.list_topics()
                        if t.startswith(f"{namespace}carecoord.") and t.endswith(".dlq"))
        described = await admin.describe_topics(topics) if topics else []
        tps = [TopicPartition(d["topic"], p["partition"]) for d in described if not d.get("error_code")
               for p in d["partitions"]]
        end = await consumer.end_offsets(tps) if tps else {}
        begin = await consumer.beginning_offsets(tps) if tps else {}
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()
        await admin.close()
    counts = dict.fromkeys(topics, 0)
    for tp in tps:
        counts[tp.topic] += end[tp] - begin[tp]
    return counts


def _number(value: float | None, unit: str = "") -> str:
    return "?" if value is None else f"{value:g}{unit}"


def render(statuses: list[ServiceStatus], dlq: dict[str, int] | None, dlq_error: str | None) -> str:
    lines = [f"{'SERVICE':<14}{'READY':<13}{'OUTBOX':>8}{'OLDEST':>10}  CONSUMERS (status, lag)"]
    for s in statuses:
        ready = "ready" if s.ready else ("unreachable" if not s.reachable else "NOT READY")
        consumers = ", ".join(f"{c.get('projection')} {c.get('status')} lag {_number(c.get('lag'))}"
                              for c in s.consumers) or "-"
        lines.append(f"{s.name:<14}{ready:<13}{_number(s.outbox_backlog):>8}"
                     f"{_number(s.outbox_oldest_age_seconds, 's'):>10}  {consumers}")
        if s.error:
            lines.append(f"{'':<14}  {s.error}")
    lines.append("")
    if dlq is None:
        lines.append(f"DEAD LETTERS: unknown (Kafka: {dlq_error})")
    elif not dlq:
        lines.append("DEAD LETTERS: no dead-letter topics")
    else:
        lines.append("DEAD LETTERS (records; replay with `carecoord dlq replay --topic T`)")
        lines += [f"  {topic:<60}{count:>8}" for topic, count in dlq.items()]
    return "\n".join(lines)


def _targets(pairs: list[str] | None) -> dict[str, str]:
    if not pairs:
        return {name: f"http://127.0.0.1:{port}" for name, port in SERVICES.items()}
    targets = {}
    for pair in pairs:
        name, sep, url = pair.partition("=")
        if not sep or not name or not url:
            raise SystemExit(f"--url takes SERVICE=URL, not {pair!r}")
        targets[name] = url
    return targets


def _run(args: argparse.Namespace) -> int:
    targets = _targets(args.url)
    with ThreadPoolExecutor(max_workers=len(targets)) as pool:
        statuses = list(pool.map(lambda item: service_status(item[0], item[1], args.timeout), targets.items()))
    dlq: dict[str, int] | None = None
    dlq_error: str | None = None
    try:
        dlq = asyncio.run(asyncio.wait_for(dlq_counts(args.bootstrap, args.namespace), KAFKA_TIMEOUT))
    except Exception as exc:
        dlq_error = type(exc).__name__
    if args.json:
        print(json.dumps({"services": [asdict(s) for s in statuses], "dead_letters": dlq,
                          "dead_letters_error": dlq_error}, indent=2))
    else:
        print(render(statuses, dlq, dlq_error))
    return 0 if all(s.ready for s in statuses) else 1


def add_status_parser(sub: Any) -> None:
    parser = sub.add_parser("status", help="readiness, outbox backlog, consumer lag and dead letters of each service")
    parser.add_argument("--url", action="append", metavar="SERVICE=URL",
                        help="a service's base URL (repeatable); default: the local stack's ports")
    parser.add_argument("--bootstrap", default=os.environ.get("CARECOORD_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
                        help="Kafka bootstrap servers for the dead-letter counts")
    parser.add_argument("--namespace", default=os.environ.get("CARECOORD_TOPIC_NAMESPACE", ""),
                        help="topic prefix of the deployment (CARECOORD_TOPIC_NAMESPACE)")
    parser.add_argument("--timeout", type=float, default=HTTP_TIMEOUT, help="seconds per HTTP request")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=_run)
