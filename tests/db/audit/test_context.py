"""The request context reaches the triggers through transaction-local settings."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy import event, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from fastapi_chassis.context import request_context, set_actor
from fastapi_chassis.db.audit import apply_audit_context
from tests.db.audit.helpers import log_entries
from tests.db.audit.models import Counter

pytestmark = [pytest.mark.db, pytest.mark.asyncio]

COUNTERS = "public.audit_counters"


async def test_without_a_context_actor_and_correlation_id_are_null(session: AsyncSession) -> None:
    session.add(Counter(id=1))
    await session.commit()

    (entry,) = await log_entries(session, table=COUNTERS, record_id="1")

    assert (entry.actor, entry.correlation_id) == (None, None)


async def test_raw_sql_in_a_request_carries_the_request_context(session: AsyncSession) -> None:
    with request_context(actor="carol", correlation_id="req-7"):
        await session.execute(text("INSERT INTO audit_counters (id, value) VALUES (2, 0)"))
        await session.execute(text("UPDATE audit_counters SET value = 1 WHERE id = 2"))
        await session.commit()

    entries = await log_entries(session, table=COUNTERS, record_id="2")

    assert [(e.action, e.actor, e.correlation_id) for e in entries] == [
        ("INSERT", "carol", "req-7"),
        ("UPDATE", "carol", "req-7"),
    ]


async def test_an_actor_set_after_the_transaction_began_is_used_from_then_on(
    session: AsyncSession,
) -> None:
    with request_context(correlation_id="req-8"):
        # An authentication dependency loads the user through the request's session
        # (the transaction begins), then names the actor.
        await session.execute(select(Counter).where(Counter.id == 0))
        session.add(Counter(id=3))
        await session.flush()
        set_actor("dave")
        await session.execute(text("UPDATE audit_counters SET value = 5 WHERE id = 3"))
        set_actor(None)
        await session.execute(text("UPDATE audit_counters SET value = 6 WHERE id = 3"))
        await session.commit()

    entries = await log_entries(session, table=COUNTERS, record_id="3")

    assert [(e.actor, e.correlation_id) for e in entries] == [
        (None, "req-8"),
        ("dave", "req-8"),
        (None, "req-8"),
    ]


async def test_changes_flushed_after_set_actor_carry_it(session: AsyncSession) -> None:
    with request_context(correlation_id="req-9"):
        counter = Counter(id=4)
        session.add(counter)
        await session.flush()
        set_actor("erin")
        counter.value = 1
        await session.commit()

    entries = await log_entries(session, table=COUNTERS, record_id="4")

    assert [e.actor for e in entries] == [None, "erin"]


@pytest_asyncio.fixture
async def pooled_engine(audit_database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine with a single pooled connection, reused by every transaction."""
    engine = create_async_engine(audit_database_url, pool_size=1, max_overflow=0)
    try:
        yield engine
    finally:
        await engine.dispose()


async def test_the_context_ends_with_its_transaction(pooled_engine: AsyncEngine) -> None:
    key = 4_000_001
    async with AsyncSession(pooled_engine) as session:
        with request_context(actor="frank", correlation_id="req-10"):
            session.add(Counter(id=key))
            await session.commit()
        # The same pooled connection, a new transaction, no context.
        await session.execute(text(f"UPDATE audit_counters SET value = 1 WHERE id = {key}"))
        await session.commit()
        await session.execute(text(f"DELETE FROM audit_counters WHERE id = {key}"))
        await session.commit()
        entries = await log_entries(session, table=COUNTERS, record_id=str(key))

    assert [(e.action, e.actor, e.correlation_id) for e in entries] == [
        ("INSERT", "frank", "req-10"),
        ("UPDATE", None, None),
        ("DELETE", None, None),
    ]


async def test_one_statement_per_transaction_and_only_when_there_is_a_context(
    pooled_engine: AsyncEngine,
) -> None:
    statements: list[str] = []

    def record(_conn: Connection, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    event.listen(pooled_engine.sync_engine, "before_cursor_execute", record)
    try:
        async with AsyncSession(pooled_engine) as session:
            await session.execute(text("SELECT 1"))
            await session.commit()
            without_context = [s for s in statements if "set_config" in s]
            with request_context(actor="gina", correlation_id="req-11"):
                await session.execute(text("SELECT 1"))
                await session.execute(text("SELECT 2"))
                await session.commit()
    finally:
        event.remove(pooled_engine.sync_engine, "before_cursor_execute", record)

    assert without_context == []
    assert len([s for s in statements if "set_config" in s]) == 1


async def test_core_connections_take_the_context_when_asked(audit_engine: AsyncEngine) -> None:
    key = 4_000_002
    async with audit_engine.begin() as connection:
        with request_context(actor="hana", correlation_id="job-1"):
            await connection.run_sync(apply_audit_context)
            await connection.execute(
                text(f"INSERT INTO audit_counters (id, value) VALUES ({key}, 0)")
            )
            await connection.execute(text(f"DELETE FROM audit_counters WHERE id = {key}"))
        entries = await log_entries(connection, table=COUNTERS, record_id=str(key))

    assert [(e.actor, e.correlation_id) for e in entries] == [("hana", "job-1")] * 2
