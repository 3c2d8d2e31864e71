"""``InMemoryPublisher``: keeps what the relay publishes, for tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi_chassis.events.publishers.base import OutboxMessage

__all__ = ["InMemoryPublisher"]


class InMemoryPublisher:
    """A publisher that keeps every event it is given, in publish order.

    Args:
        name: Names it in logs and metrics.

    Attributes:
        published: The CloudEvents envelopes (parsed), in publish order.
        messages: The raw :class:`OutboxMessage` objects, in the same order.

    Example:
        ```python
        publisher = InMemoryPublisher()
        relay = OutboxRelay(sessionmaker, publishers=[publisher])
        assert await relay.run_once() == 1
        assert publisher.published[0]["type"] == "shop.order.placed"
        ```
    """

    def __init__(self, name: str = "memory") -> None:
        self.name = name
        self.published: list[dict[str, Any]] = []
        self.messages: list[OutboxMessage] = []

    async def start(self) -> None:
        """Nothing to connect to."""

    async def stop(self) -> None:
        """Nothing to disconnect from; what was published stays readable."""

    async def publish(self, messages: Sequence[OutboxMessage]) -> Sequence[BaseException | None]:
        """Keep the messages; every one succeeds."""
        for message in messages:
            self.messages.append(message)
            self.published.append(message.cloudevent())
        return [None] * len(messages)

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        """Return the published envelopes of one event type, in publish order."""
        return [envelope for envelope in self.published if envelope.get("type") == event_type]

    def clear(self) -> None:
        """Forget everything published so far."""
        self.published.clear()
        self.messages.clear()
