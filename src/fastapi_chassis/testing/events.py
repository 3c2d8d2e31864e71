"""``captured_events``: what a test recorded in the outbox, and what was published.

Two views, because an event goes through two steps:

* **recorded**: the outbox rows written during the test. They are read from the
  outbox itself, in the test's transaction (so what a request recorded and
  then rolled back is not there), which is why reading them is awaited:
  ``await captured_events.recorded()``.
* **published**: the envelopes a relay handed to the test's in-memory
  publisher. ``await captured_events.relay()`` runs one relay pass over the
  pending events, in the test's transaction, exactly as the application's
  relay would. When ``client`` is used, the application's own relay (with
  ``events_relay_enabled``) publishes to the same publisher too, which
  matters in ``committed_db`` tests, where events are really committed;
  :meth:`CapturedEvents.wait_published` waits for it.

Assertions compare payload fields after converting the expected values to
their JSON form (UUIDs, decimals and datetimes as the envelope holds them), so
``aggregate_id=order.id, total=Decimal("12.00")`` works.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, overload
from uuid import UUID

from typing_extensions import override

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

    from fastapi_chassis.events.metrics import RelayMetrics
    from fastapi_chassis.events.publishers.base import OutboxMessage
    from fastapi_chassis.events.publishers.memory import InMemoryPublisher

__all__ = ["CapturedEvent", "CapturedEvents", "EventList", "ForwardingPublisher"]


@dataclass(frozen=True)
class CapturedEvent:
    """One event, as the outbox holds it and a publisher receives it.

    Attributes:
        id: The event id (the CloudEvents ``id``).
        type: The event type (``shop.order.placed``).
        aggregate_type: ``<context>.<aggregate>`` (``shop.order``).
        aggregate_id: The aggregate's id.
        data: The payload (the envelope's ``data``), in JSON form.
        envelope: The whole CloudEvents envelope.
    """

    id: UUID
    type: str
    aggregate_type: str
    aggregate_id: UUID
    data: Mapping[str, object]
    envelope: Mapping[str, object]

    @classmethod
    def from_envelope(cls, envelope: Mapping[str, object]) -> CapturedEvent:
        """Build from a CloudEvents envelope (``type``, ``subject``, ``id``, ``data``)."""
        event_type = str(envelope["type"])
        data = envelope.get("data")
        return cls(
            id=UUID(str(envelope["id"])),
            type=event_type,
            aggregate_type=".".join(event_type.split(".")[:2]),
            aggregate_id=UUID(str(envelope["subject"])),
            data=data if isinstance(data, Mapping) else {},
            envelope=envelope,
        )

    def matches(
        self, event_type: str | None = None, aggregate_id: object = None, **data: object
    ) -> bool:
        """Whether this event has the type, aggregate and payload fields given.

        Args:
            event_type: The event type, or ``None`` for any.
            aggregate_id: The aggregate id (a UUID or its text), or ``None`` for any.
            **data: Payload fields that must be present with these values (others
                may be present too).
        """
        if event_type is not None and self.type != event_type:
            return False
        if aggregate_id is not None and str(self.aggregate_id) != str(aggregate_id):
            return False
        expected = _jsonable(data)
        return all(key in self.data and self.data[key] == value for key, value in expected.items())

    def describe(self) -> str:
        """One line: type, aggregate id and payload."""
        return f"{self.type} {self.aggregate_id} {dict(self.data)}"


def _jsonable(values: Mapping[str, object]) -> dict[str, object]:
    from pydantic_core import to_jsonable_python  # noqa: PLC0415

    converted: dict[str, object] = to_jsonable_python(dict(values))
    return converted


class EventList(Sequence[CapturedEvent]):
    """Events in order, with filters.

    Args:
        events: The events.
    """

    def __init__(self, events: Sequence[CapturedEvent] = ()) -> None:
        self._events = tuple(events)

    @overload
    def __getitem__(self, index: int) -> CapturedEvent: ...

    @overload
    def __getitem__(self, index: slice) -> EventList: ...

    @override
    def __getitem__(self, index: int | slice) -> CapturedEvent | EventList:
        if isinstance(index, slice):
            return EventList(self._events[index])
        return self._events[index]

    @override
    def __len__(self) -> int:
        return len(self._events)

    @override
    def __iter__(self) -> Iterator[CapturedEvent]:
        return iter(self._events)

    @override
    def __eq__(self, other: object) -> bool:
        if isinstance(other, EventList):
            return self._events == other._events
        if isinstance(other, Sequence):
            return list(self._events) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    @override
    def __repr__(self) -> str:
        return f"EventList({[event.describe() for event in self._events]!r})"

    @property
    def types(self) -> list[str]:
        """The event types, in order."""
        return [event.type for event in self._events]

    def of_type(self, event_type: str) -> EventList:
        """The events of one type."""
        return EventList([event for event in self._events if event.type == event_type])

    def for_aggregate(self, aggregate_id: object) -> EventList:
        """The events of one aggregate (a UUID or its text)."""
        return EventList(
            [event for event in self._events if event.matches(aggregate_id=aggregate_id)]
        )

    def matching(
        self, event_type: str | None = None, aggregate_id: object = None, **data: object
    ) -> EventList:
        """The events that :meth:`CapturedEvent.matches` the arguments."""
        return EventList(
            [event for event in self._events if event.matches(event_type, aggregate_id, **data)]
        )

    def find(
        self,
        event_type: str,
        *,
        what: str = "recorded",
        aggregate_id: object = None,
        count: int | None = None,
        **data: object,
    ) -> CapturedEvent:
        """Return the first matching event; fail with a list of what there is otherwise.

        Args:
            event_type: The event type.
            what: How the events came about, for the failure message.
            aggregate_id: The aggregate id, or ``None`` for any.
            count: When given, exactly this many events must match.
            **data: Payload fields that must have these values.

        Raises:
            AssertionError: If no event (or not ``count`` events) matches.
        """
        found = self.matching(event_type, aggregate_id, **data)
        if found and (count is None or len(found) == count):
            return found[0]
        wanted = " ".join(
            part
            for part in (
                event_type,
                f"aggregate {aggregate_id}" if aggregate_id is not None else "",
                str(_jsonable(data)) if data else "",
            )
            if part
        )
        times = f"{count} time(s), found {len(found)}" if count is not None else "none found"
        listing = "\n".join(f"  {event.describe()}" for event in self._events) or "  (nothing)"
        raise AssertionError(f"expected {what} {wanted} {times}; {what}:\n{listing}")


class _Capture:
    """The publisher the application's relay forwards to while a test captures events."""

    current: InMemoryPublisher | None = None


class ForwardingPublisher:
    """A publisher that hands events to the test capturing them (and drops them otherwise).

    The test plugin contributes it to the application's relay through
    ``chassis_event_publishers``, once per application; ``captured_events``
    decides, test by test, where its events go.

    Attributes:
        name: Its name in logs and metrics.
    """

    name = "captured-events"

    async def start(self) -> None:
        """Nothing to connect to."""

    async def stop(self) -> None:
        """Nothing to disconnect from."""

    async def publish(self, messages: Sequence[OutboxMessage]) -> Sequence[BaseException | None]:
        """Give the messages to the capturing test's publisher; every one succeeds."""
        target = _Capture.current
        if target is not None:
            return await target.publish(messages)
        return [None] * len(messages)


_SQL = "fastapi_chassis.testing.sql"


async def _outbox_position(connection: AsyncConnection) -> int | None:
    from sqlalchemy import text  # noqa: PLC0415

    from fastapi_chassis.db.sql_files import load_sql  # noqa: PLC0415

    if not await connection.scalar(text(load_sql(_SQL, "outbox_installed.sql"))):
        return None
    return int(await connection.scalar(text(load_sql(_SQL, "outbox_position.sql"))) or 0)


class CapturedEvents:
    """The events of one test (the value of the ``captured_events`` fixture).

    Args:
        publisher: Receives what relays publish during the test.
        session: The test's ``db_session``.
        engine: The test's engine; recorded events are read through it in
            ``committed_db`` tests, through ``session``'s connection otherwise.
        committed: Whether the test commits for real.
        after: Outbox sequence numbers up to this one belong to earlier tests.
    """

    def __init__(
        self,
        publisher: InMemoryPublisher,
        session: AsyncSession,
        engine: AsyncEngine,
        *,
        committed: bool,
        after: int | None,
    ) -> None:
        self._publisher = publisher
        self._session = session
        self._engine = engine
        self._committed = committed
        self._after = after

    @classmethod
    async def start(
        cls, session: AsyncSession, engine: AsyncEngine, *, committed: bool
    ) -> CapturedEvents:
        """Start capturing: note where the outbox stands and take over the publisher.

        Args:
            session: The test's ``db_session``.
            engine: The test's engine.
            committed: Whether the test commits for real.

        Returns:
            The capture; call :meth:`close` at the end of the test.
        """
        from fastapi_chassis.events.publishers.memory import InMemoryPublisher  # noqa: PLC0415

        if committed:
            async with engine.connect() as connection:
                after = await _outbox_position(connection)
        else:
            after = await _outbox_position(await _connection_of(session))
        publisher = InMemoryPublisher("captured-events")
        _Capture.current = publisher
        return cls(publisher, session, engine, committed=committed, after=after)

    def close(self) -> None:
        """Stop receiving what the application's relay publishes."""
        if _Capture.current is self._publisher:
            _Capture.current = None

    @property
    def outbox_installed(self) -> bool:
        """Whether the test database has the outbox table (``fastapi_chassis.events`` imported)."""
        return self._after is not None

    async def recorded(self) -> EventList:
        """Return the events recorded in the outbox during the test, in outbox order.

        Rows the code under test wrote and then rolled back are not included;
        in a ``committed_db`` test only committed rows are.
        """
        if self._after is None:
            return EventList()
        from sqlalchemy import text  # noqa: PLC0415

        from fastapi_chassis.db.sql_files import load_sql  # noqa: PLC0415

        query = text(load_sql(_SQL, "outbox_recorded.sql"))
        if self._committed:
            async with self._engine.connect() as connection:
                payloads = list(await connection.scalars(query, {"after": self._after}))
        else:
            connection = await _connection_of(self._session)
            payloads = list(await connection.scalars(query, {"after": self._after}))
        return EventList([CapturedEvent.from_envelope(_parsed(payload)) for payload in payloads])

    async def of_type(self, event_type: str) -> EventList:
        """Return the recorded events of one type."""
        return (await self.recorded()).of_type(event_type)

    async def assert_recorded(
        self,
        event_type: str,
        *,
        aggregate_id: object = None,
        count: int | None = None,
        **data: object,
    ) -> CapturedEvent:
        """Fail unless an event of this type (aggregate, payload fields) was recorded.

        Args:
            event_type: The event type.
            aggregate_id: The aggregate id, or ``None`` for any.
            count: When given, exactly this many events must match.
            **data: Payload fields that must have these values.

        Returns:
            The first matching event.

        Raises:
            AssertionError: Listing what was recorded, if nothing matches.
        """
        if self._after is None:
            raise AssertionError(
                "the test database has no outbox table: import fastapi_chassis.events "
                "where the models are defined, so that create_all() or your migrations make it"
            )
        recorded = await self.recorded()
        return recorded.find(
            event_type, what="recorded", aggregate_id=aggregate_id, count=count, **data
        )

    async def assert_nothing_recorded(self) -> None:
        """Fail if any event was recorded during the test.

        Raises:
            AssertionError: Listing what was recorded.
        """
        recorded = await self.recorded()
        if recorded:
            listing = "\n".join(f"  {event.describe()}" for event in recorded)
            raise AssertionError(f"expected no recorded events, found:\n{listing}")

    @property
    def published(self) -> EventList:
        """The events published to the test's publisher so far, in publish order."""
        return EventList([CapturedEvent.from_envelope(item) for item in self._publisher.published])

    def assert_published(
        self,
        event_type: str,
        *,
        aggregate_id: object = None,
        count: int | None = None,
        **data: object,
    ) -> CapturedEvent:
        """Fail unless a matching event was published (see :meth:`assert_recorded`).

        Raises:
            AssertionError: Listing what was published, if nothing matches.
        """
        return self.published.find(
            event_type, what="published", aggregate_id=aggregate_id, count=count, **data
        )

    async def relay(self) -> int:
        """Publish the pending events once, as the application's relay would.

        In a rolled-back test the relay runs in the test's transaction (so it
        sees what the test and its requests recorded, and marking the events
        published is rolled back with the rest); in a ``committed_db`` test it
        claims and marks committed events in transactions of its own.

        Returns:
            How many events were published.
        """
        from sqlalchemy.ext.asyncio import async_sessionmaker  # noqa: PLC0415

        from fastapi_chassis.events.relay import OutboxRelay  # noqa: PLC0415
        from fastapi_chassis.testing.sessions import joined_sessionmaker  # noqa: PLC0415

        if self._after is None:
            return 0
        if self._committed:
            sessionmaker = async_sessionmaker(self._engine, expire_on_commit=False)
        else:
            sessionmaker = joined_sessionmaker(await _connection_of(self._session))
        relay = OutboxRelay(
            sessionmaker,
            publishers=[self._publisher],
            name="captured-events",
            listen=False,
            metrics=_private_metrics(),
        )
        return await relay.run_once()

    async def wait_published(self, count: int, *, timeout: float = 5.0) -> EventList:
        """Wait until at least ``count`` events were published (by any relay).

        Args:
            count: How many events to wait for.
            timeout: Seconds to wait before failing.

        Returns:
            Everything published so far.

        Raises:
            AssertionError: If fewer were published when the time ran out.
        """
        deadline = time.monotonic() + timeout
        while len(self._publisher.published) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"expected {count} published event(s) within {timeout}s, "
                    f"got {len(self._publisher.published)}: {self.published!r}"
                )
            await asyncio.sleep(0.01)
        return self.published


def _parsed(payload: object) -> Mapping[str, object]:
    if isinstance(payload, Mapping):
        return payload
    parsed: Mapping[str, object] = json.loads(str(payload))
    return parsed


async def _connection_of(session: AsyncSession) -> AsyncConnection:
    from sqlalchemy.ext.asyncio import AsyncConnection  # noqa: PLC0415

    bind = session.bind
    if isinstance(bind, AsyncConnection):
        return bind
    return await session.connection()


class _RelayMetrics:
    """One private set of relay metrics per process (collectors register once per registry)."""

    value: object = None


def _private_metrics() -> RelayMetrics:
    from prometheus_client import CollectorRegistry  # noqa: PLC0415

    from fastapi_chassis.events.metrics import RelayMetrics  # noqa: PLC0415

    if not isinstance(_RelayMetrics.value, RelayMetrics):
        _RelayMetrics.value = RelayMetrics(CollectorRegistry())
    return _RelayMetrics.value
