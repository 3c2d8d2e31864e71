"""Publishers for relay tests: ones that fail on purpose, or watch for overlap."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from uuid import UUID

from typing_extensions import override

from fastapi_chassis.events.publishers import InMemoryPublisher, OutboxMessage


class FlakyPublisher(InMemoryPublisher):
    """Fails the messages ``fails`` picks; keeps the rest, like InMemoryPublisher."""

    def __init__(self, fails: Callable[[OutboxMessage], bool]) -> None:
        super().__init__(name="flaky")
        self.fails = fails
        self.attempts: list[UUID] = []

    @override
    async def publish(self, messages: Sequence[OutboxMessage]) -> Sequence[BaseException | None]:
        outcomes: list[BaseException | None] = []
        for message in messages:
            self.attempts.append(message.id)
            if self.fails(message):
                outcomes.append(ConnectionError(f"broker refused {message.id}"))
            else:
                await super().publish([message])
                outcomes.append(None)
        return outcomes


class SharedBroker:
    """One ordered log shared by several relays' publishers, noting what is in flight."""

    def __init__(self) -> None:
        self.log: list[OutboxMessage] = []
        self.in_flight: dict[UUID, str] = {}
        self.overlaps: list[tuple[UUID, str, str]] = []


class SlowPublisher:
    """Publishes into a :class:`SharedBroker`, slowly, recording any concurrent sends."""

    def __init__(self, broker: SharedBroker, name: str, delay: float = 0.01) -> None:
        self.broker = broker
        self.name = name
        self.delay = delay

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def publish(self, messages: Sequence[OutboxMessage]) -> Sequence[BaseException | None]:
        for message in messages:
            other = self.broker.in_flight.get(message.id)
            if other is not None:
                self.broker.overlaps.append((message.id, other, self.name))
            self.broker.in_flight[message.id] = self.name
        await asyncio.sleep(self.delay)
        for message in messages:
            self.broker.log.append(message)
            self.broker.in_flight.pop(message.id, None)
        return [None] * len(messages)
