"""Who a process is to Kafka: SASL/SCRAM credentials (and TLS) for every client it makes.

Every Kafka client of a process — a service's relay, its consumers, its admin calls, the
``carecoord`` commands — speaks as the same principal, the process's, whose ACLs allow only
what that service needs (``shared.kafka.acls``). So the credentials are read here, from the
environment, rather than threaded through every constructor:

- ``CARECOORD_KAFKA_USERNAME`` and ``CARECOORD_KAFKA_PASSWORD`` (or ``CARECOORD_KAFKA_PASSWORD_FILE``,
  a file holding it: a Docker or Kubernetes secret);
- ``CARECOORD_KAFKA_SASL_MECHANISM`` (default ``SCRAM-SHA-256``);
- ``CARECOORD_KAFKA_SECURITY_PROTOCOL`` (default ``SASL_PLAINTEXT``; ``SASL_SSL`` on a real
  cluster, with ``CARECOORD_KAFKA_SSL_CAFILE`` naming the CA that signed the brokers' certificates).

Without a username the client connects unauthenticated (a broker that refuses that refuses it).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from aiokafka.helpers import create_ssl_context

ENV_PREFIX = "CARECOORD_KAFKA_"


class KafkaCredentialsError(RuntimeError):
    """A username without a password (or an unreadable password file)."""


def _password() -> str:
    password = os.environ.get(f"{ENV_PREFIX}PASSWORD")
    if password:
        return password
    path = os.environ.get(f"{ENV_PREFIX}PASSWORD_FILE")
    if not path:
        raise KafkaCredentialsError(f"{ENV_PREFIX}USERNAME is set but neither {ENV_PREFIX}PASSWORD nor "
                                    f"{ENV_PREFIX}PASSWORD_FILE is")
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise KafkaCredentialsError(f"{ENV_PREFIX}PASSWORD_FILE cannot be read ({type(exc).__name__})") from exc


def client_security() -> dict[str, Any]:
    """The options to add to any aiokafka client (producer, consumer, admin)."""
    username = os.environ.get(f"{ENV_PREFIX}USERNAME")
    if not username:
        return {}
    protocol = os.environ.get(f"{ENV_PREFIX}SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    options: dict[str, Any] = {
        "security_protocol": protocol,
        "sasl_mechanism": os.environ.get(f"{ENV_PREFIX}SASL_MECHANISM", "SCRAM-SHA-256"),
        "sasl_plain_username": username,
        "sasl_plain_password": _password(),
    }
    if protocol == "SASL_SSL":
        options["ssl_context"] = create_ssl_context(cafile=os.environ.get(f"{ENV_PREFIX}SSL_CAFILE"))
    return options
