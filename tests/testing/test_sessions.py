"""Sessions joined to one connection take turns, so their savepoints never interleave."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from fastapi_chassis.testing.sessions import TurnTakingSession, joined_sessionmaker, taking_turn


async def _busy(maker: async_sessionmaker[AsyncSession], log: list[str], name: str) -> None:
    async with maker() as session:
        log.append(f"{name} in")
        await session.execute(text("SELECT 1"))
        # Give the other task every chance to barge in.
        await asyncio.sleep(0.01)
        await session.execute(text("SELECT 2"))
        await session.commit()
        log.append(f"{name} out")


@pytest.mark.asyncio
async def test_sessions_of_one_connection_take_turns(db_engine: AsyncEngine) -> None:
    log: list[str] = []
    async with db_engine.connect() as connection:
        transaction = await connection.begin()
        maker = joined_sessionmaker(connection)

        await asyncio.gather(*(_busy(maker, log, name) for name in "abc"))

        await transaction.rollback()
    assert log == ["a in", "a out", "b in", "b out", "c in", "c out"]


@pytest.mark.asyncio
async def test_a_task_may_open_a_second_session_inside_its_first(db_engine: AsyncEngine) -> None:
    async with db_engine.connect() as connection:
        transaction = await connection.begin()
        maker = joined_sessionmaker(connection)

        async with maker() as outer:
            await outer.execute(text("CREATE TEMPORARY TABLE seen (n int)"))
            async with maker() as inner:
                await inner.execute(text("INSERT INTO seen VALUES (1)"))
                await inner.commit()
            async with taking_turn(maker):
                assert await outer.scalar(text("SELECT count(*) FROM seen")) == 1

        await transaction.rollback()


@pytest.mark.asyncio
async def test_the_options_of_the_application_sessionmaker_are_kept(db_engine: AsyncEngine) -> None:
    class AppSession(AsyncSession):
        pass

    app_maker = async_sessionmaker(db_engine, class_=AppSession, info={"app": "shop"})
    async with db_engine.connect() as connection:
        maker = joined_sessionmaker(connection, like=app_maker)
        session = maker()

        assert isinstance(session, AppSession)
        assert isinstance(session, TurnTakingSession)
        assert session.info["app"] == "shop"
        assert session.bind is connection
        assert maker.kw["expire_on_commit"] is True
        await session.close()
