"""What the relay hands to publishers, and what a publisher must do with it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

__all__ = ["OutboxMessage", "Publisher"]


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One event on its way to a broker.

    Attributes:
        id: The event id (CloudEvents ``id``); consumers deduplicate by it.
        sequence: Its place in the outbox; orders the events of an aggregate.
        aggregate_type: ``<context>.<aggregate>``; decides the topic.
        aggregate_id: The aggregate's id; the message key.
        event_type: The event type.
        payload: The CloudEvents envelope as JSON text, byte for byte as
            PostgreSQL renders the stored ``jsonb`` (which is also what a CDC
            pipeline reading the table would send).
        attempts: Failed delivery attempts before this one.
        created_at: When the recording transaction started.
    """

    id: UUID
    sequence: int
    aggregate_type: str
    aggregate_id: UUID
    event_type: str
    payload: bytes
    attempts: int
    created_at: datetime

    @property
    def key(self) -> bytes:
        """The message key: the aggregate id in its canonical text form."""
        return str(self.aggregate_id).encode()

    def cloudevent(self) -> dict[str, Any]:
        """Return the envelope, parsed."""
        envelope: dict[str, Any] = json.loads(self.payload)
        return envelope


@runtime_checkable
class Publisher(Protocol):
    """Delivers events to a broker (or anywhere else) for the outbox relay.

    The relay calls :meth:`start` once before the first :meth:`publish` and
    :meth:`stop` once when it stops. Every call to :meth:`publish` holds at most
    one event per aggregate: the relay sends an aggregate's next event only after
    the broker acknowledged the one before, which is what keeps per-aggregate order
    even when a send fails. A publisher may therefore send the events of one call
    concurrently.

    Attributes:
        name: Names the publisher in logs and metrics.
    """

    name: str

    async def start(self) -> None:
        """Connect to the broker."""

    async def stop(self) -> None:
        """Flush what is in flight and disconnect."""

    async def publish(self, messages: Sequence[OutboxMessage]) -> Sequence[BaseException | None]:
        """Deliver the messages and wait until each is acknowledged or has failed.

        Args:
            messages: At most one message per aggregate.

        Returns:
            One outcome per message, in the same order: ``None`` when the broker
            acknowledged it, the exception that failed it otherwise. Raising instead
            fails every message of the call.
        """
        ...
