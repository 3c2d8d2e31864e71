from __future__ import annotations

import asyncio
from uuid import UUID

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from fastapi_chassis.db import AsyncRepository, ConcurrencyConflict, create_sessionmaker
from tests.db.models import Counter

WRITERS = 50


async def _committed_counter(engine: AsyncEngine) -> UUID:
    async with create_sessionmaker(engine)() as session:
        counter = Counter(value=0)
        session.add(counter)
        await session.commit()
        return counter.id


async def _remove(engine: AsyncEngine, identity: UUID) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM t_counters WHERE id = :id"), {"id": identity})


@pytest.mark.asyncio
async def test_version_starts_at_one_and_counts_changes(db_session: AsyncSession) -> None:
    counter = Counter(value=0)
    db_session.add(counter)
    await db_session.flush()
    assert counter.version == 1
    counter.value = 1
    await db_session.flush()
    assert counter.version == 2
    counter.value = 1  # the same value: no UPDATE, no new version
    await db_session.flush()
    assert counter.version == 2


@pytest.mark.asyncio
async def test_raw_sql_changes_bump_the_version_too(db_session: AsyncSession) -> None:
    counter = Counter(value=0)
    db_session.add(counter)
    await db_session.flush()
    await db_session.execute(
        text("UPDATE t_counters SET value = value + 1 WHERE id = :id"), {"id": counter.id}
    )
    await db_session.refresh(counter)
    assert counter.version == 2
    # An edit made outside the ORM makes the ORM's next write stale.
    await db_session.execute(
        text("UPDATE t_counters SET value = 10 WHERE id = :id"), {"id": counter.id}
    )
    counter.value = 3
    with pytest.raises(StaleDataError):
        await db_session.flush()


@pytest.mark.asyncio
async def test_a_stale_orm_flush_raises_stale_data_error(db_engine: AsyncEngine) -> None:
    identity = await _committed_counter(db_engine)
    sessionmaker = create_sessionmaker(db_engine)
    try:
        async with sessionmaker() as first, sessionmaker() as second:
            mine = await first.get(Counter, identity)
            theirs = await second.get(Counter, identity)
            assert mine is not None
            assert theirs is not None
            theirs.value = 1
            await second.commit()
            mine.value = 2
            with pytest.raises(StaleDataError):
                await first.commit()
    finally:
        await _remove(db_engine, identity)


@pytest.mark.asyncio
async def test_concurrent_read_modify_write_loses_no_update(db_engine: AsyncEngine) -> None:
    """Fifty writers read the same version, then all try to write it."""
    identity = await _committed_counter(db_engine)
    sessionmaker = create_sessionmaker(db_engine)
    everyone_has_read = asyncio.Barrier(WRITERS)
    outcomes: list[object] = []

    async def writer() -> None:
        async with sessionmaker() as session:
            repo = AsyncRepository(session, Counter)
            counter = await repo.get(identity)
            value, version = counter.value, counter.version
            await session.commit()  # release the snapshot; keep the values
            await everyone_has_read.wait()
            try:
                await repo.update(identity, {"value": value + 1}, expected_version=version)
                await session.commit()
                outcomes.append("won")
            except ConcurrencyConflict as conflict:
                await session.rollback()
                outcomes.append(conflict)

    try:
        await asyncio.gather(*(writer() for _ in range(WRITERS)))
        async with sessionmaker() as session:
            final = await AsyncRepository(session, Counter).get(identity)
        wins = outcomes.count("won")
        conflicts = [outcome for outcome in outcomes if isinstance(outcome, ConcurrencyConflict)]
        assert wins + len(conflicts) == WRITERS
        assert wins == 1  # everyone read version 1; only one write can apply to it
        assert final.version == 1 + wins
        assert final.value == wins
        for conflict in conflicts:
            assert conflict.expected_version == 1
            assert conflict.actual_version == 2
            assert isinstance(conflict, StaleDataError)
    finally:
        await _remove(db_engine, identity)


@pytest.mark.asyncio
async def test_concurrent_writers_that_retry_all_get_through(db_engine: AsyncEngine) -> None:
    identity = await _committed_counter(db_engine)
    sessionmaker = create_sessionmaker(db_engine)
    conflicts = 0

    async def writer() -> None:
        nonlocal conflicts
        while True:
            async with sessionmaker() as session:
                repo = AsyncRepository(session, Counter)
                counter = await repo.get(identity)
                try:
                    await repo.update(
                        identity, {"value": counter.value + 1}, expected_version=counter.version
                    )
                    await session.commit()
                except ConcurrencyConflict:
                    conflicts += 1
                    continue
                return

    try:
        await asyncio.gather(*(writer() for _ in range(WRITERS)))
        async with sessionmaker() as session:
            final = await AsyncRepository(session, Counter).get(identity)
        assert final.value == WRITERS
        assert final.version == 1 + WRITERS
    finally:
        await _remove(db_engine, identity)
