"""OutboxRelay with in-process publishers: order, retries, dead letters, concurrency, wake-ups."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typing_extensions import override

from fastapi_chassis import ChassisSettings
from fastapi_chassis.db import uuid7
from fastapi_chassis.errors import ConfigurationError
from fastapi_chassis.events import (
    DomainEvent,
    OutboxRelay,
    list_dead_letters,
    outbox_table,
    record_event,
    record_events,
    release_dead_letters,
    skip_dead_letters,
)
from fastapi_chassis.events.claims import claim
from fastapi_chassis.events.metrics import RelayMetrics
from fastapi_chassis.events.publishers import InMemoryPublisher, OutboxMessage
from tests.events.events import OrderCancelled, OrderPlaced
from tests.events.publishers import FlakyPublisher, SharedBroker, SlowPublisher

pytestmark = pytest.mark.asyncio


def relay(
    sessionmaker: async_sessionmaker[AsyncSession],
    publishers: Sequence[Any],
    metrics: RelayMetrics,
    **options: Any,
) -> OutboxRelay:
    options.setdefault("listen", False)
    options.setdefault("retry_backoff", 60.0)
    return OutboxRelay(sessionmaker, publishers, metrics=metrics, **options)


async def end_back_offs(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Make every retry due now, instead of waiting for its back-off."""
    async with sessionmaker() as session:
        await session.execute(
            update(outbox_table)
            .where(outbox_table.c.lease_token.is_(None))
            .values(leased_until=None)
        )
        await session.commit()


async def record(sessionmaker: async_sessionmaker[AsyncSession], *events: DomainEvent) -> None:
    async with sessionmaker() as session:
        await record_events(session, events)
        await session.commit()


def sample(metrics: RelayMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return float(value or 0.0)


def in_order(messages: Sequence[OutboxMessage]) -> bool:
    last: dict[UUID, int] = {}
    for message in messages:
        if last.get(message.aggregate_id, -1) >= message.sequence:
            return False
        last[message.aggregate_id] = message.sequence
    return True


async def test_run_once_publishes_committed_events_in_order_and_counts_them(
    sessionmaker: async_sessionmaker[AsyncSession], metrics: RelayMetrics
) -> None:
    aggregates = [uuid7() for _ in range(5)]
    events = [
        OrderPlaced(aggregate_id=aggregates[index % 5], total_cents=index) for index in range(40)
    ]
    await record(sessionmaker, *events)
    publisher = InMemoryPublisher()
    async with relay(sessionmaker, [publisher], metrics, batch_size=7) as outbox_relay:
        assert await outbox_relay.run_once() == 40
        assert await outbox_relay.run_once() == 0
    assert sorted(envelope["id"] for envelope in publisher.published) == sorted(
        str(event.event_id) for event in events
    )
    assert in_order(publisher.messages)
    for aggregate_id in aggregates:
        mine = [
            m.cloudevent()["data"]["total_cents"]
            for m in publisher.messages
            if m.aggregate_id == aggregate_id
        ]
        assert mine == sorted(mine)
    assert (
        sample(
            metrics,
            "chassis_outbox_published_total",
            relay="outbox-relay",
            aggregate_type="shop.order",
        )
        == 40
    )
    async with sessionmaker() as session:
        pending = await session.scalar(
            select(outbox_table.c.id).where(outbox_table.c.published_at.is_(None)).limit(1)
        )
    assert pending is None


async def test_rolled_back_events_are_never_published(
    sessionmaker: async_sessionmaker[AsyncSession], metrics: RelayMetrics
) -> None:
    async with sessionmaker() as session:
        await record_event(session, OrderPlaced(aggregate_id=uuid7(), total_cents=1))
        await session.rollback()
    publisher = InMemoryPublisher()
    async with relay(sessionmaker, [publisher], metrics) as outbox_relay:
        assert await outbox_relay.run_once() == 0
    assert publisher.published == []


async def test_an_uncommitted_event_is_not_published_and_is_not_skipped_once_committed(
    sessionmaker: async_sessionmaker[AsyncSession], metrics: RelayMetrics
) -> None:
    """A transaction that takes its sequence first and commits last is still published."""
    publisher = InMemoryPublisher()
    late = OrderPlaced(aggregate_id=uuid7(), total_cents=1)
    early = OrderPlaced(aggregate_id=uuid7(), total_cents=2)
    async with relay(sessionmaker, [publisher], metrics) as outbox_relay:
        async with sessionmaker() as slow:
            await record_event(slow, late)  # takes the lower sequence number
            await record(sessionmaker, early)
            assert await outbox_relay.run_once() == 1
            assert publisher.published[-1]["id"] == str(early.event_id)
            await slow.commit()
        assert await outbox_relay.run_once() == 1
    assert [m.id for m in publisher.messages] == [early.event_id, late.event_id]
    assert publisher.messages[1].sequence < publisher.messages[0].sequence


async def test_run_once_leaves_events_recorded_after_it_started(
    sessionmaker: async_sessionmaker[AsyncSession], metrics: RelayMetrics
) -> None:
    first = OrderPlaced(aggregate_id=uuid7(), total_cents=1)
    await record(sessionmaker, first)

    class RecordsMore(InMemoryPublisher):
        @override
        async def publish(
            self, messages: Sequence[OutboxMessage]
        ) -> Sequence[BaseException | None]:
            await record(sessionmaker, OrderPlaced(aggregate_id=uuid7(), total_cents=9))
            return await super().publish(messages)

    publisher = RecordsMore()
    async with relay(sessionmaker, [publisher], metrics) as outbox_relay:
        assert await outbox_relay.run_once() == 1
        assert await outbox_relay.run_once() == 1
    assert publisher.published[0]["id"] == str(first.event_id)


async def test_a_failure_stops_its_aggregate_and_is_retried_in_order(
    sessionmaker: async_sessionmaker[AsyncSession], metrics: RelayMetrics
) -> None:
    troubled, healthy = uuid7(), uuid7()
    first = OrderPlaced(aggregate_id=troubled, total_cents=1)
    second = OrderCancelled(aggregate_id=troubled, reason="after the first")
    other = OrderPlaced(aggregate_id=healthy, total_cents=3)
    await record(sessionmaker, first, second, other)
    broken = {first.event_id}
    publisher = FlakyPublisher(lambda message: message.id in broken)
    async with relay(sessionmaker, [publisher], metrics, max_attempts=5) as outbox_relay:
        assert await outbox_relay.run_once() == 1
        assert [m.id for m in publisher.messages] == [other.event_id]
        assert second.event_id not in publisher.attempts, "never sent past a failed event"
        async with sessionmaker() as session:
            row = (
                await session.execute(
                    select(outbox_table).where(outbox_table.c.id == first.event_id)
                )
            ).one()
        assert row.attempts == 1
        assert row.last_error == f"ConnectionError: broker refused {first.event_id}"
        assert row.leased_until is not None
        assert row.lease_token is None
        broken.clear()
        assert await outbox_relay.run_once() == 0, "the back-off has not passed"
        await end_back_offs(sessionmaker)
        assert await outbox_relay.run_once() == 2
    assert [m.id for m in publisher.messages] == [other.event_id, first.event_id, second.event_id]
    assert (
        sample(
            metrics,
            "chassis_outbox_publish_failures_total",
            relay="outbox-relay",
            aggregate_type="shop.order",
        )
        == 1
    )


async def test_a_retry_waits_for_its_back_off(
    sessionmaker: async_sessionmaker[AsyncSession], metrics: RelayMetrics
) -> None:
    event = OrderPlaced(aggregate_id=uuid7(), total_cents=1)
    await record(sessionmaker, event)
    failing = [True]
    publisher = FlakyPublisher(lambda _message: failing[0])
    async with relay(sessionmaker, [publisher], metrics, retry_backoff=0.4) as outbox_relay:
        assert await outbox_relay.run_once() == 0
        failing[0] = False
        assert await outbox_relay.run_once() == 0, "the back-off has not passed"
        async with sessionmaker() as session:
            waited = await session.scalar(select(outbox_table.c.leased_until - func.now()))
        assert waited is not None
        assert 0.1 < waited.total_seconds() <= 0.4, "half to all of the back-off (jitter)"
        await asyncio.sleep(0.45)
        assert await outbox_relay.run_once() == 1


async def test_dead_letters_block_their_aggregate_until_released(
    sessionmaker: async_sessionmaker[AsyncSession], metrics: RelayMetrics
) -> None:
    blocked = uuid7()
    poison = OrderPlaced(aggregate_id=blocked, total_cents=1)
    behind = OrderCancelled(aggregate_id=blocked, reason="waits")
    elsewhere = OrderPlaced(aggregate_id=uuid7(), total_cents=2)
    await record(sessionmaker, poison, behind)
    broken = {poison.event_id}
    publisher = FlakyPublisher(lambda message: message.id in broken)
    async with relay(sessionmaker, [publisher], metrics, max_attempts=3) as outbox_relay:
        for _ in range(3):
            assert await outbox_relay.run_once() == 0
            await end_back_offs(sessionmaker)
        assert publisher.attempts.count(poison.event_id) == 3
        await record(sessionmaker, elsewhere)
        assert await outbox_relay.run_once() == 1
        assert await outbox_relay.run_once() == 0
        assert publisher.attempts.count(poison.event_id) == 3, "dead letters are not retried"
        await outbox_relay.refresh_metrics()
        assert sample(metrics, "chassis_outbox_dead_letters", relay="outbox-relay") == 1
        assert sample(metrics, "chassis_outbox_pending_events", relay="outbox-relay") == 2
        assert (
            sample(
                metrics,
                "chassis_outbox_dead_lettered_total",
                relay="outbox-relay",
                aggregate_type="shop.order",
            )
            == 1
        )
        async with sessionmaker() as session:
            (letter,) = await list_dead_letters(session)
        assert letter.id == poison.event_id
        assert letter.blocked == 1
        assert letter.attempts == 3
        assert "broker refused" in (letter.last_error or "")
        broken.clear()
        async with sessionmaker() as session:
            assert await release_dead_letters(session, [poison.event_id, uuid7()]) == [
                poison.event_id
            ]
            await session.commit()
        assert await outbox_relay.run_once() == 2
        await outbox_relay.refresh_metrics()
        assert sample(metrics, "chassis_outbox_dead_letters", relay="outbox-relay") == 0
    assert [m.id for m in publisher.messages][-2:] == [poison.event_id, behind.event_id]


async def test_skipping_a_dead_letter_lets_its_aggregate_flow(
    sessionmaker: async_sessionmaker[AsyncSession], metrics: RelayMetrics
) -> None:
    aggregate_id = uuid7()
    poison = OrderPlaced(aggregate_id=aggregate_id, total_cents=1)
    behind = OrderCancelled(aggregate_id=aggregate_id, reason="waits")
    await record(sessionmaker, poison, behind)
    publisher = FlakyPublisher(lambda message: message.id == poison.event_id)
    async with relay(sessionmaker, [publisher], metrics, max_attempts=1) as outbox_relay:
        assert await outbox_relay.run_once() == 0
        async with sessionmaker() as session:
            assert await skip_dead_letters(session, every=True) == [poison.event_id]
            await session.commit()
        assert await outbox_relay.run_once() == 1
    assert [m.id for m in publisher.messages] == [behind.event_id]
    async with sessionmaker() as session:
        row = (
            await session.execute(select(outbox_table).where(outbox_table.c.id == poison.event_id))
        ).one()
    assert row.skipped_at is not None
    assert row.published_at is not None
    assert row.dead_at is not None


async def test_an_event_counts_as_published_only_when_every_publisher_took_it(
    sessionmaker: async_sessionmaker[AsyncSession], metrics: RelayMetrics
) -> None:
    event = OrderPlaced(aggregate_id=uuid7(), total_cents=1)
    await record(sessionmaker, event)
    good = InMemoryPublisher()
    failing = [True]
    bad = FlakyPublisher(lambda _message: failing[0])
    async with relay(sessionmaker, [good, bad], metrics) as outbox_relay:
        assert await outbox_relay.run_once() == 0
        failing[0] = False
        await end_back_offs(sessionmaker)
        assert await outbox_relay.run_once() == 1
    # At least once: the publisher that succeeded first got it again.
    assert [m.id for m in good.messages] == [event.event_id, event.event_id]
    assert [m.id for m in bad.messages] == [event.event_id]


async def test_a_publisher_that_raises_or_hangs_fails_the_wave(
    sessionmaker: async_sessionmaker[AsyncSession], metrics: RelayMetrics
) -> None:
    class Hanging(InMemoryPublisher):
        @override
        async def publish(
            self, messages: Sequence[OutboxMessage]
        ) -> Sequence[BaseException | None]:
            await asyncio.sleep(10)
            return [None] * len(messages)

    await record(sessionmaker, OrderPlaced(aggregate_id=uuid7(), total_cents=1))
    async with relay(
        sessionmaker, [Hanging()], metrics, publish_timeout=0.2, lease_seconds=3.0
    ) as outbox_relay:
        assert await outbox_relay.run_once() == 0
    async with sessionmaker() as session:
        error = await session.scalar(select(outbox_table.c.last_error))
    assert error == "TimeoutError"


async def test_a_claim_keeps_other_relays_off_the_aggregate_until_its_lease_ends(
    sessionmaker: async_sessionmaker[AsyncSession], metrics: RelayMetrics
) -> None:
    """A relay that dies after claiming holds nothing forever: its lease runs out."""
    aggregate_id = uuid7()
    await record(
        sessionmaker,
        OrderPlaced(aggregate_id=aggregate_id, total_cents=1),
        OrderCancelled(aggregate_id=aggregate_id, reason="second"),
    )
    crashed = await claim(sessionmaker, batch_size=1, lease_seconds=1.0)
    assert len(crashed.messages) == 1
    await record(sessionmaker, OrderPlaced(aggregate_id=aggregate_id, total_cents=3))
    publisher = InMemoryPublisher()
    async with relay(sessionmaker, [publisher], metrics) as outbox_relay:
        assert await outbox_relay.run_once() == 0
        await asyncio.sleep(1.1)
        assert await outbox_relay.run_once() == 3
    assert [m.sequence for m in publisher.messages] == sorted(
        m.sequence for m in publisher.messages
    )


async def test_two_relays_never_publish_the_same_claim_at_once(
    sessionmaker: async_sessionmaker[AsyncSession], metrics: RelayMetrics
) -> None:
    aggregates = [uuid7() for _ in range(200)]
    events = [OrderPlaced(aggregate_id=aggregates[i % 200], total_cents=i) for i in range(1000)]
    await record(sessionmaker, *events)
    broker = SharedBroker()
    relays = [
        relay(
            sessionmaker,
            [SlowPublisher(broker, name, delay=0.005)],
            metrics,
            name=name,
            batch_size=25,
            poll_interval=0.05,
        )
        for name in ("a", "b", "c")
    ]
    for one in relays:
        await one.start()
    try:
        deadline = time.monotonic() + 30
        while len({m.id for m in broker.log}) < 1000 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        for one in relays:
            await one.stop()
    published_by = {
        name: sample(
            metrics, "chassis_outbox_published_total", relay=name, aggregate_type="shop.order"
        )
        for name in ("a", "b", "c")
    }
    assert all(count > 0 for count in published_by.values()), published_by
    assert broker.overlaps == []
    assert sorted(m.id for m in broker.log) == sorted(e.event_id for e in events)
    assert in_order(broker.log)


async def test_notifications_wake_the_relay_without_waiting_for_the_poll(
    sessionmaker: async_sessionmaker[AsyncSession], metrics: RelayMetrics
) -> None:
    publisher = InMemoryPublisher()
    outbox_relay = relay(sessionmaker, [publisher], metrics, listen=True, poll_interval=30.0)
    await outbox_relay.start()
    try:
        for _ in range(50):
            if outbox_relay.listening:
                break
            await asyncio.sleep(0.05)
        assert outbox_relay.listening
        await asyncio.sleep(0.1)  # the first pass found nothing and went to sleep
        started = time.monotonic()
        await record(sessionmaker, OrderPlaced(aggregate_id=uuid7(), total_cents=1))
        while not publisher.published and time.monotonic() - started < 5:
            await asyncio.sleep(0.01)
        assert publisher.published
        assert time.monotonic() - started < 2
    finally:
        await outbox_relay.stop()


async def test_without_notifications_the_relay_polls(
    sessionmaker: async_sessionmaker[AsyncSession], metrics: RelayMetrics
) -> None:
    publisher = InMemoryPublisher()
    outbox_relay = relay(sessionmaker, [publisher], metrics, poll_interval=0.1)
    await outbox_relay.start()
    try:
        await asyncio.sleep(0.2)
        await record(sessionmaker, OrderPlaced(aggregate_id=uuid7(), total_cents=1))
        for _ in range(100):
            if publisher.published:
                break
            await asyncio.sleep(0.02)
        assert publisher.published
        assert not outbox_relay.listening
    finally:
        await outbox_relay.stop()


async def test_stop_lets_the_batch_in_flight_settle(
    sessionmaker: async_sessionmaker[AsyncSession], metrics: RelayMetrics
) -> None:
    events = [OrderPlaced(aggregate_id=uuid7(), total_cents=i) for i in range(20)]
    await record(sessionmaker, *events)
    broker = SharedBroker()
    started = asyncio.Event()

    class Signalling(SlowPublisher):
        @override
        async def publish(
            self, messages: Sequence[OutboxMessage]
        ) -> Sequence[BaseException | None]:
            started.set()
            return await super().publish(messages)

    outbox_relay = relay(
        sessionmaker, [Signalling(broker, "slow", delay=0.3)], metrics, batch_size=5
    )
    await outbox_relay.start()
    await started.wait()
    await outbox_relay.stop()
    async with sessionmaker() as session:
        published = await session.scalar(
            text("SELECT count(*) FROM chassis_outbox WHERE published_at IS NOT NULL")
        )
        leased = await session.scalar(
            text("SELECT count(*) FROM chassis_outbox WHERE lease_token IS NOT NULL")
        )
    assert published == len(broker.log) == 5, "the claimed batch finished and nothing more"
    assert leased == 0


async def test_the_relay_refuses_unusable_configurations(
    sessionmaker: async_sessionmaker[AsyncSession], metrics: RelayMetrics
) -> None:
    with pytest.raises(ConfigurationError, match="publisher"):
        OutboxRelay(sessionmaker, [], metrics=metrics)
    with pytest.raises(ConfigurationError, match="not a publisher"):
        OutboxRelay(sessionmaker, [object()], metrics=metrics)  # type: ignore[list-item]
    with pytest.raises(ConfigurationError, match="lease_seconds"):
        OutboxRelay(sessionmaker, [InMemoryPublisher()], lease_seconds=5, publish_timeout=10)


async def test_settings_configure_the_relay(
    sessionmaker: async_sessionmaker[AsyncSession], metrics: RelayMetrics
) -> None:
    settings = ChassisSettings(
        database_url="postgresql://app@db/shop",
        service_name="shop",
        db_pgbouncer=True,
        events_batch_size=3,
    )
    outbox_relay = OutboxRelay.from_settings(
        settings, sessionmaker, [InMemoryPublisher()], metrics=metrics
    )
    assert outbox_relay.name == "shop-outbox-relay"
    assert outbox_relay._listen_url is None, "no LISTEN through PgBouncer"
    assert outbox_relay._batch_size == 3
    direct = ChassisSettings.model_validate(
        {**settings.model_dump(), "events_listen_url": "postgresql://app@db-direct/shop"}
    )
    assert (
        OutboxRelay.from_settings(
            direct, sessionmaker, [InMemoryPublisher()], metrics=metrics
        )._listen_url
        == "postgresql://app@db-direct/shop"
    )


async def test_many_aggregates_and_deep_runs_drain_completely(
    sessionmaker: async_sessionmaker[AsyncSession], metrics: RelayMetrics
) -> None:
    hot = uuid7()
    events: list[DomainEvent] = [OrderPlaced(aggregate_id=hot, total_cents=i) for i in range(300)]
    events += [OrderPlaced(aggregate_id=uuid7(), total_cents=i) for i in range(300)]
    await record(sessionmaker, *events)
    publisher = InMemoryPublisher()
    async with relay(sessionmaker, [publisher], metrics, batch_size=50) as outbox_relay:
        assert await outbox_relay.run_once() == 600
    assert in_order(publisher.messages)
    per_aggregate: dict[UUID, int] = defaultdict(int)
    for message in publisher.messages:
        per_aggregate[message.aggregate_id] += 1
    assert per_aggregate[hot] == 300


async def test_a_relay_stopped_right_after_starting_stops_at_once(
    sessionmaker: async_sessionmaker[AsyncSession], metrics: RelayMetrics
) -> None:
    outbox_relay = relay(sessionmaker, [InMemoryPublisher()], metrics, listen=True)
    started = time.monotonic()
    await outbox_relay.start()
    await outbox_relay.stop(timeout=5)
    assert time.monotonic() - started < 2
