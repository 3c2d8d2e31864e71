"""The database fixtures (registered by :mod:`fastapi_chassis.testing.plugin`).

SQLAlchemy, asyncpg and the application's models are imported inside the
fixtures, so a test run that never asks for a database never loads them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from importlib import import_module
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio

from fastapi_chassis.testing.postgres import (
    ServerHandle,
    create_database,
    drop_database,
    new_database_name,
    run_sync,
    start_server,
)
from fastapi_chassis.testing.plugin import INI_METADATA

if TYPE_CHECKING:
    from sqlalchemy import MetaData
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession


def load_metadata(spec: str) -> MetaData:
    """Resolve ``module:attribute`` to a MetaData (a declarative base's counts too).

    Raises:
        pytest.UsageError: If the spec does not name a MetaData.
    """
    from sqlalchemy import MetaData  # noqa: PLC0415

    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise pytest.UsageError(f"{INI_METADATA} must look like 'package.module:Base', not {spec!r}")
    target: Any = import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    metadata = getattr(target, "metadata", target)
    if not isinstance(metadata, MetaData):
        raise pytest.UsageError(f"{INI_METADATA}={spec!r} is not a MetaData or declarative base")
    return metadata


@pytest.fixture(scope="session")
def chassis_metadata(pytestconfig: pytest.Config) -> MetaData:
    """The metadata whose tables (and server-side SQL) the test database gets."""
    spec = str(pytestconfig.getini(INI_METADATA) or "fastapi_chassis.db:Base")
    return load_metadata(spec)


@pytest.fixture(scope="session")
def chassis_postgres() -> Iterator[ServerHandle]:
    """The PostgreSQL server for this test session."""
    handle = start_server()
    try:
        yield handle
    finally:
        handle.stop()


async def _create_schema(url: str, metadata: MetaData) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine  # noqa: PLC0415
    from sqlalchemy.pool import NullPool  # noqa: PLC0415

    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def chassis_database_url(chassis_postgres: ServerHandle, chassis_metadata: MetaData) -> Iterator[str]:
    """URL of a database made for this test session, with the schema; dropped at the end."""
    name = new_database_name()
    url = create_database(chassis_postgres.url, name)
    try:
        run_sync(lambda: _create_schema(url, chassis_metadata))
        yield url
    finally:
        drop_database(chassis_postgres.url, name)


@pytest_asyncio.fixture
async def db_engine(chassis_database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on the test database, bound to the event loop of the test.

    It holds no pooled connections between tests, so a test on a fresh event loop
    never meets a connection made on an earlier one.
    """
    from sqlalchemy.ext.asyncio import create_async_engine  # noqa: PLC0415
    from sqlalchemy.pool import NullPool  # noqa: PLC0415

    engine = create_async_engine(chassis_database_url, poolclass=NullPool)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest_asyncio.fixture
async def db_session(db_engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session whose every change, commits included, is rolled back after the test.

    The session joins an outer transaction with ``join_transaction_mode=
    "create_savepoint"``: ``commit()`` in the code under test releases a SAVEPOINT
    and the outer transaction is rolled back at the end.
    """
    from sqlalchemy.ext.asyncio import AsyncSession  # noqa: PLC0415

    async with db_engine.connect() as connection:
        transaction = await connection.begin()
        session = AsyncSession(
            bind=connection,
            join_transaction_mode="create_savepoint",
            expire_on_commit=False,
        )
        try:
            yield session
        finally:
            await session.close()
            await transaction.rollback()
