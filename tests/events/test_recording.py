"""record_event: the outbox row joins the caller's transaction, in the order of the locks."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fastapi_chassis.context import request_context
from fastapi_chassis.db import uuid7
from fastapi_chassis.events import (
    EventRegistry,
    EventValidationError,
    UnknownEventType,
    configure_event_sessions,
    outbox_table,
    record_event,
    record_events,
)
from tests.db.models import Product
from tests.events.events import OrderCancelled, OrderPlaced

pytestmark = pytest.mark.asyncio


async def outbox_rows(sessionmaker: async_sessionmaker[AsyncSession]) -> list[Any]:
    async with sessionmaker() as session:
        result = await session.execute(select(outbox_table).order_by(outbox_table.c.sequence))
        return list(result)


async def test_the_row_has_the_debezium_columns_and_the_whole_envelope(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    configure_event_sessions(
        sessionmaker,
        source="shop-service",
        dataschema_base_url="https://schemas.example.com/events/",
    )
    event = OrderPlaced(aggregate_id=uuid7(), total_cents=1200)
    with request_context(
        correlation_id="c-123",
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    ):
        async with sessionmaker() as session:
            await record_event(session, event)
            await session.commit()
    (row,) = await outbox_rows(sessionmaker)
    assert row.id == event.event_id
    assert row.aggregatetype == "shop.order"
    assert row.aggregateid == event.aggregate_id
    assert row.type == "shop.order.placed"
    assert row.published_at is None
    assert row.attempts == 0
    assert row.payload == {
        "specversion": "1.0",
        "id": str(event.event_id),
        "source": "shop-service",
        "type": "shop.order.placed",
        "subject": str(event.aggregate_id),
        "time": event.occurred_at.isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "dataschema": "https://schemas.example.com/events/shop.order.placed/1.0.json",
        "schemaversion": "1.0",
        "correlationid": "c-123",
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "data": {"total_cents": 1200, "currency": "EUR"},
    }
    Draft202012Validator(OrderPlaced.data_schema()).validate(row.payload["data"])


async def test_without_a_request_context_the_extensions_are_left_out(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        await record_event(session, OrderCancelled(aggregate_id=uuid7(), reason="duplicate"))
        await session.commit()
    (row,) = await outbox_rows(sessionmaker)
    assert "correlationid" not in row.payload
    assert "traceparent" not in row.payload
    assert row.payload["source"] == "fastapi-chassis"
    assert row.payload["dataschema"] == "urn:schema:shop.order.cancelled:1.0"


async def test_a_rollback_takes_the_event_with_the_state_change(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    sku = f"rec-{uuid7()}"
    async with sessionmaker() as session:
        product = Product(sku=sku, name="mug")
        session.add(product)
        await record_event(session, OrderPlaced(aggregate_id=product.id, total_cents=1))
        await session.rollback()
    async with sessionmaker() as session:
        assert await session.scalar(select(Product).where(Product.sku == sku)) is None
    assert await outbox_rows(sessionmaker) == []


async def test_a_commit_stores_both(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    sku = f"rec-{uuid7()}"
    async with sessionmaker() as session:
        product = Product(sku=sku, name="mug")
        session.add(product)
        await record_event(session, OrderPlaced(aggregate_id=product.id, total_cents=1))
        await session.commit()
    async with sessionmaker() as session:
        stored = await session.scalar(select(Product).where(Product.sku == sku))
        assert stored is not None
        await session.delete(stored)
        await session.commit()
    (row,) = await outbox_rows(sessionmaker)
    assert row.aggregateid == product.id


async def test_an_invalid_event_stores_nothing_and_flushes_nothing(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    sku = f"rec-{uuid7()}"
    async with sessionmaker() as session:
        product = Product(sku=sku, name="mug")
        session.add(product)
        valid = OrderPlaced(aggregate_id=product.id, total_cents=1)
        invalid = OrderPlaced.model_construct(
            aggregate_id=product.id,
            event_id=uuid7(),
            occurred_at=None,  # type: ignore[arg-type]
            total_cents=-5,
        )
        with pytest.raises(EventValidationError, match="total_cents"):
            await record_events(session, [valid, invalid])
        # The product was not flushed either: validation comes first.
        assert product in session.new
        count = await session.scalar(
            text("SELECT count(*) FROM chassis_outbox"), execution_options={"autoflush": False}
        )
        assert count == 0
        await session.rollback()
    assert await outbox_rows(sessionmaker) == []


async def test_a_configured_registry_refuses_unknown_types(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    configure_event_sessions(sessionmaker, source="svc", registry=EventRegistry([OrderPlaced]))
    async with sessionmaker() as session:
        with pytest.raises(UnknownEventType):
            await record_event(session, OrderCancelled(aggregate_id=uuid7(), reason="x"))
        await record_event(session, OrderPlaced(aggregate_id=uuid7(), total_cents=3))
        await session.commit()
    assert len(await outbox_rows(sessionmaker)) == 1


async def test_the_database_orders_events_when_they_are_recorded_not_made(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    aggregate_id = uuid7()
    made_first = OrderPlaced(aggregate_id=aggregate_id, total_cents=1)
    made_second = OrderCancelled(aggregate_id=aggregate_id, reason="changed mind")
    assert made_first.event_id < made_second.event_id
    async with sessionmaker() as session:
        await record_event(session, made_second)
        await record_event(session, made_first)
        await session.commit()
    rows = await outbox_rows(sessionmaker)
    assert [row.id for row in rows] == [made_second.event_id, made_first.event_id]


async def test_the_aggregate_lock_orders_concurrent_writers_by_commit(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """The second writer waits for the first; its sequence comes after, its event is older."""
    aggregate_id = uuid7()
    older = OrderPlaced(aggregate_id=aggregate_id, total_cents=1)
    newer = OrderCancelled(aggregate_id=aggregate_id, reason="late")
    first_holds_lock = asyncio.Event()
    release_first = asyncio.Event()

    async def first_writer() -> None:
        async with sessionmaker() as session:
            await record_event(session, newer, lock_aggregate=True)
            first_holds_lock.set()
            await release_first.wait()
            await session.commit()

    async def second_writer() -> None:
        await first_holds_lock.wait()
        async with sessionmaker() as session:
            await record_event(session, older, lock_aggregate=True)
            await session.commit()

    first = asyncio.create_task(first_writer())
    second = asyncio.create_task(second_writer())
    await first_holds_lock.wait()
    await asyncio.sleep(0.2)
    assert not second.done(), "the second writer must wait for the aggregate's lock"
    release_first.set()
    await asyncio.gather(first, second)
    rows = await outbox_rows(sessionmaker)
    assert [row.id for row in rows] == [newer.event_id, older.event_id]


async def test_many_events_keep_their_order_and_are_json(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    aggregate_id = uuid7()
    events = [OrderPlaced(aggregate_id=aggregate_id, total_cents=cents) for cents in range(50)]
    async with sessionmaker() as session:
        await record_events(session, events, lock_aggregates=True)
        await session.commit()
    rows = await outbox_rows(sessionmaker)
    assert [row.payload["data"]["total_cents"] for row in rows] == list(range(50))
    json.dumps([row.payload for row in rows])


async def test_recording_nothing_touches_nothing(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        await record_events(session, [])
        await session.commit()
    assert await outbox_rows(sessionmaker) == []
