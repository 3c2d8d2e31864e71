"""Fresh databases with the shop schema, and SQL functions that check what was loaded."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

# The shop tables must be in Base.metadata before the session database is
# created (the factory tests use db_session), whichever test module runs first.
import tests.synthetic.models  # noqa: F401
from fastapi_chassis.db import Base
from fastapi_chassis.testing.postgres import ServerHandle, run_sync, with_database
from tests.synthetic.models import SHOP_TABLES


async def create_shop_schema(url: str) -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(
                lambda sync: Base.metadata.create_all(sync, tables=SHOP_TABLES)
            )
    finally:
        await engine.dispose()


async def query(url: str, sql: str, **parameters: object) -> Sequence[Row[tuple[object, ...]]]:
    """Run one SQL query on a fresh connection and return its rows."""
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            return (await connection.execute(text(sql), parameters)).all()
    finally:
        await engine.dispose()


async def execute(url: str, sql: str) -> None:
    """Run one SQL statement in its own committed transaction."""
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(sql))
    finally:
        await engine.dispose()


async def scalar(url: str, sql: str, **parameters: object) -> object:
    rows = await query(url, sql, **parameters)
    return rows[0][0]


def run_query(url: str, sql: str) -> int:
    """Count with SQL, from a synchronous test."""
    value = run_sync(lambda: scalar(url, sql))
    assert isinstance(value, int)
    return value


@pytest.fixture
def shop_url(chassis_postgres: ServerHandle) -> Iterator[str]:
    """A new database with the shop schema and no rows, dropped after the test."""
    with with_database(chassis_postgres.url, prefix="chassis_syn") as url:
        run_sync(lambda: create_shop_schema(url))
        yield url


@pytest.fixture
def make_shop_url(chassis_postgres: ServerHandle) -> Iterator[object]:
    """Make further fresh shop databases within one test."""
    from contextlib import ExitStack

    with ExitStack() as stack:

        def make() -> str:
            url = stack.enter_context(with_database(chassis_postgres.url, prefix="chassis_syn"))
            run_sync(lambda: create_shop_schema(url))
            return url

        yield make
