from __future__ import annotations

import datetime

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from fastapi_chassis.db import create_sessionmaker
from tests.db.models import Counter, Product

PAST = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)


async def _insert_in_the_past(session: AsyncSession, sku: str) -> Product:
    product = Product(sku=sku, name="old")
    session.add(product)
    await session.flush()
    # Backdate both timestamps with the trigger off: inside one transaction now()
    # never moves, so only a value from the past shows whether updated_at moved.
    await session.execute(text("ALTER TABLE t_products DISABLE TRIGGER chassis_touch"))
    await session.execute(
        text("UPDATE t_products SET created_at = :past, updated_at = :past WHERE id = :id"),
        {"past": PAST, "id": product.id},
    )
    await session.execute(text("ALTER TABLE t_products ENABLE TRIGGER chassis_touch"))
    await session.refresh(product)
    return product


@pytest.mark.asyncio
async def test_insert_sets_both_timestamps_to_the_transaction_time(
    db_session: AsyncSession,
) -> None:
    product = Product(sku="T1", name="n")
    db_session.add(product)
    await db_session.flush()
    now = (await db_session.execute(select(func.now()))).scalar_one()
    # Fetched with the INSERT: no lazy load (which async code cannot do) is needed.
    assert product.created_at == now
    assert product.updated_at == now


@pytest.mark.asyncio
async def test_raw_sql_update_moves_updated_at(db_session: AsyncSession) -> None:
    product = await _insert_in_the_past(db_session, "T2")
    assert product.updated_at == PAST
    await db_session.execute(
        text("UPDATE t_products SET name = 'renamed' WHERE id = :id"), {"id": product.id}
    )
    row = (
        await db_session.execute(
            text("SELECT created_at, updated_at, now() AS now FROM t_products WHERE id = :id"),
            {"id": product.id},
        )
    ).one()
    assert row.updated_at == row.now
    assert row.created_at == PAST


@pytest.mark.asyncio
async def test_orm_update_moves_updated_at_and_reads_it_back(db_session: AsyncSession) -> None:
    product = await _insert_in_the_past(db_session, "T3")
    product.name = "changed"
    await db_session.flush()
    now = (await db_session.execute(select(func.now()))).scalar_one()
    assert product.updated_at == now


@pytest.mark.asyncio
async def test_an_update_that_changes_nothing_keeps_updated_at_and_version(
    db_session: AsyncSession,
) -> None:
    product = await _insert_in_the_past(db_session, "T4")
    await db_session.execute(
        text("UPDATE t_products SET name = name, updated_at = now(), version = 99 WHERE id = :id"),
        {"id": product.id},
    )
    await db_session.refresh(product)
    assert product.updated_at == PAST
    assert product.version == 1


@pytest.mark.asyncio
async def test_housekeeping_columns_cannot_be_forced_by_a_real_change(
    db_session: AsyncSession,
) -> None:
    product = await _insert_in_the_past(db_session, "T5")
    await db_session.execute(
        text("UPDATE t_products SET name = 'x', updated_at = :past, version = 42 WHERE id = :id"),
        {"id": product.id, "past": PAST},
    )
    await db_session.refresh(product)
    assert product.updated_at != PAST
    assert product.version == 2


@pytest.mark.asyncio
async def test_timestamps_survive_commit_without_a_lazy_load(db_engine: AsyncEngine) -> None:
    sessionmaker = create_sessionmaker(db_engine)
    async with sessionmaker() as session:
        counter = Counter(value=1)
        product = Product(sku="T6-commit", name="n")
        session.add_all([counter, product])
        await session.commit()
        # expire_on_commit=False: server-set values are readable after commit.
        assert product.created_at is not None
        assert product.version == 1
        product.name = "m"
        await session.commit()
        assert product.version == 2
        assert product.updated_at >= product.created_at
        await session.delete(product)
        await session.delete(counter)
        await session.commit()
