"""Least privilege on Kafka: what each service's principal may do, and nothing more.

A service writes only its own topics (the outbox relay; coordination also its public flags
topic) and the dead-letter topics of what it consumes; it reads only the topics it projects;
its consumer groups are its own. Anything else — another service's topic above all — is
refused by the broker, so stolen credentials of one service cannot forge another's history.
The same bindings are what a real cluster needs (``docs/deploy.md``; Strimzi ``KafkaUser``
resources in ``deploy/k8s``); the local stack applies them with :func:`apply_acls`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import CreateAclsRequest

# What each service's consumers read (shared.directory: pharmacy and therapy keep a patient
# directory from assessment's topic; coordination projects every clinical topic and its own).
READS: dict[str, tuple[str, ...]] = {
    "assessment": (),
    "pharmacy": ("assessment",),
    "therapy": ("assessment",),
    "coordination": ("assessment", "pharmacy", "therapy", "coordination"),
}
# Topics a service writes besides ``carecoord.<service>.events.v1``.
EXTRA_WRITES: dict[str, tuple[str, ...]] = {"coordination": ("flags",)}
# A downstream dashboard reads the flags and nothing else (examples/dashboard_kafka.py).
DASHBOARD = "dashboard"

Resource = Literal["topic", "group", "cluster"]
Pattern = Literal["literal", "prefixed"]
Operation = Literal["read", "write", "create", "describe", "idempotent_write"]


@dataclass(frozen=True)
class Acl:
    principal: str  # a SCRAM user name
    resource: Resource
    name: str
    pattern: Pattern
    operation: Operation


def topic(namespace: str, service: str, kind: str = "events") -> str:
    """The topic's name, spelled as ``ServiceSettings.topic`` spells it."""
    return f"{namespace}carecoord.{service}.{kind}.v1"


def _topic(user: str, name: str, *operations: Operation) -> list[Acl]:
    return [Acl(user, "topic", name, "literal", op) for op in operations]


def service_acls(service: str, namespace: str = "") -> list[Acl]:
    """``service``'s bindings. Creating a topic it reads is allowed (a consumer started before
    its source's first event creates the topic, with the platform's settings), writing to it
    is not."""
    acls = [Acl(service, "cluster", "kafka-cluster", "literal", "idempotent_write")]
    for kind in ("events", *EXTRA_WRITES.get(service, ())):
        acls += _topic(service, topic(namespace, service, kind), "write", "describe", "create")
    for source in READS[service]:
        source_topic = topic(namespace, source)
        acls += _topic(service, source_topic, "read", "describe", "create")
        acls += _topic(service, f"{source_topic}.dlq", "write", "describe", "create")
    if READS[service]:  # its groups: "<ns>coordination", "<ns>pharmacy.patient-directory", …
        acls.append(Acl(service, "group", f"{namespace}{service}", "prefixed", "read"))
    return acls


def dashboard_acls(namespace: str = "") -> list[Acl]:
    return [*_topic(DASHBOARD, topic(namespace, "coordination", "flags"), "read", "describe"),
            Acl(DASHBOARD, "group", f"{namespace}{DASHBOARD}", "prefixed", "read")]


def platform_acls(services: Iterable[str] = tuple(READS), namespace: str = "") -> list[Acl]:
    return [acl for service in services for acl in service_acls(service, namespace)] + dashboard_acls(namespace)


# Kafka's wire codes (org.apache.kafka.common.resource / acl)
_RESOURCE = {"topic": 2, "group": 3, "cluster": 4}
_PATTERN = {"literal": 3, "prefixed": 4}
_OPERATION = {"read": 3, "write": 4, "create": 5, "describe": 8, "idempotent_write": 12}
_ALLOW = 3


async def apply_acls(admin: AIOKafkaAdminClient, acls: Iterable[Acl]) -> None:
    """Create ``acls`` (creating an existing binding changes nothing) with an admin client
    started by a super user. aiokafka's admin client has no public call for CreateAcls (API
    30), so each request goes to a broker, which forwards it to the controller."""
    node = next(iter(admin._client.cluster.brokers())).nodeId
    for acl in acls:
        request = CreateAclsRequest(_RESOURCE[acl.resource], acl.name, _PATTERN[acl.pattern], f"User:{acl.principal}",
                                    "*", _OPERATION[acl.operation], _ALLOW)
        response = await admin._send_request_to_node(node, request)
        for error_code, error_message in response.creation_responses:
            if error_code:
                raise RuntimeError(f"the broker refused an ACL on {acl.resource} {acl.name}: "
                                   f"error {error_code} {error_message or ''}".strip())
