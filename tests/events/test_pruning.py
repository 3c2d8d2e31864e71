from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fastapi_chassis.db import uuid7
from fastapi_chassis.events import outbox_table, prune_outbox, record_events
from tests.events.events import OrderPlaced

pytestmark = pytest.mark.asyncio


async def test_only_rows_published_before_the_retention_go(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    events = [OrderPlaced(aggregate_id=uuid7(), total_cents=i) for i in range(5)]
    published, pending, dead = events[:3], events[3:4], events[4:]
    ids = outbox_table.c.id
    async with sessionmaker() as session:
        await record_events(session, events)
        await session.execute(
            update(outbox_table)
            .where(ids.in_([e.event_id for e in published]))
            .values(published_at=text("now()"))
        )
        await session.execute(
            update(outbox_table)
            .where(ids.in_([e.event_id for e in dead]))
            .values(dead_at=text("now()"))
        )
        await session.commit()
    assert await prune_outbox(sessionmaker, timedelta(days=1)) == 0, "published too recently"
    # A negative retention puts the cutoff just ahead: everything published is old enough.
    assert await prune_outbox(sessionmaker, timedelta(seconds=-5), batch_size=2) == 3
    async with sessionmaker() as session:
        left = set((await session.execute(select(ids))).scalars())
    assert left == {e.event_id for e in pending + dead}


async def test_outboxes_read_by_cdc_prune_unpublished_rows_by_age(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        await record_events(session, [OrderPlaced(aggregate_id=uuid7(), total_cents=1)])
        await session.commit()
    assert await prune_outbox(sessionmaker, timedelta(seconds=-1)) == 0
    assert await prune_outbox(sessionmaker, timedelta(seconds=-1), unpublished=True) == 1
