from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from fastapi_chassis.db import sqlstate

pytestmark = pytest.mark.asyncio


async def test_sqlstate_reads_sqlalchemy_wrappers(db_session: AsyncSession) -> None:
    await db_session.execute(text("CREATE TEMPORARY TABLE once (id integer PRIMARY KEY)"))
    await db_session.execute(text("INSERT INTO once VALUES (1)"))
    with pytest.raises(IntegrityError) as unique:
        await db_session.execute(text("INSERT INTO once VALUES (1)"))
    await db_session.rollback()
    with pytest.raises(DBAPIError) as overflow:
        await db_session.execute(text("SELECT CAST('99999999999' AS integer)"))

    assert sqlstate(unique.value) == "23505"
    assert sqlstate(overflow.value) == "22003"


async def test_sqlstate_reads_driver_errors_and_is_none_for_others(db_engine: AsyncEngine) -> None:
    async with db_engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection  # asyncpg's own connection
        assert driver is not None
        with pytest.raises(Exception) as undefined:  # noqa: PT011 - asyncpg's error type
            await driver.execute("SELECT * FROM no_such_table")

    assert type(undefined.value).__module__.startswith("asyncpg")
    assert sqlstate(undefined.value) == "42P01"
    assert sqlstate(ValueError("not from a database")) is None
