"""One Prometheus registry per app, with the instruments its requests update.

A registry of its own (not prometheus-client's global one) lets several apps live in one
process, as they do in the in-process tests, without their series colliding or adding up.
Everything else an operator watches (outbox, relay, consumers, caches, pool) is read when
``/metrics`` is scraped (:mod:`shared.metrics.scrape`), so no hot path pays for it.
"""

from __future__ import annotations

import platform
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

# Seconds. Commands are one or two database round trips (a few ms) and reads a few more;
# the upper buckets catch lock waits (lock_timeout is 10 s) and a database in failover.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
OTHER_CLINIC = "other"


class ServiceMetrics:
    def __init__(self, service: str, *, clinics: Iterable[str] = (), version: str = "") -> None:
        # A "_created" series beside every counter doubles what Prometheus stores for nothing
        # an alert uses. (A process-wide switch of prometheus-client; this is its only user.)
        disable_created_metrics()
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        # A clinic label exists only when an operator listed clinics: the label's values are
        # then those clinics and "other", a bound they chose.
        self.clinics = frozenset(c for c in clinics if c)
        command_labels = ["command", "outcome", "reason"] + (["clinic"] if self.clinics else [])
        self.requests = Counter("carecoord_http_requests", "HTTP requests by route template, method and status",
                                ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("carecoord_http_request_duration_seconds",
                                 "HTTP request latency by route template, method and status",
                                 ["route", "method", "status"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.commands = Counter("carecoord_commands", "Command requests by operation, outcome and reason class",
                                command_labels, registry=self.registry)
        info = Gauge("carecoord_build_info", "The service and the Python it runs on (always 1)",
                     ["service", "version", "python"], registry=self.registry)
        info.labels(service, version, platform.python_version()).set(1)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        code = str(status)
        self.requests.labels(route, method, code).inc()
        self.latency.labels(route, method, code).observe(seconds)

    def count_command(self, command: str, outcome: str, reason: str, clinic: str | None) -> None:
        if self.clinics:
            label = clinic if clinic in self.clinics else OTHER_CLINIC
            self.commands.labels(command, outcome, reason, label).inc()
        else:
            self.commands.labels(command, outcome, reason).inc()
