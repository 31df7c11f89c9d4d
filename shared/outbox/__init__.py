"""Transactional outbox: the event store writes it, the relay publishes it."""

from shared.outbox.relay import OutboxRelay, RelayStats

__all__ = ["OutboxRelay", "RelayStats"]
