"""The database fixtures (registered by :mod:`fastapi_chassis.testing.plugin`).

SQLAlchemy, asyncpg and the application's models are imported inside the
fixtures, so a test run that never asks for a database never loads them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio

from fastapi_chassis.testing.plugin import INI_METADATA
from fastapi_chassis.testing.postgres import (
    create_database,
    drop_database,
    new_database_name,
    run_sync,
    start_server,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from sqlalchemy import MetaData
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

    from fastapi_chassis.testing.postgres import ServerHandle


def load_metadata(spec: str) -> MetaData:
    """Resolve ``module:attribute`` to a MetaData (a declarative base's counts too).

    Args:
        spec: ``package.module:attribute``; the attribute may be dotted
            (``models:Base.metadata``).

    Returns:
        The MetaData named, or the ``metadata`` of the declarative base named.

    Raises:
        pytest.UsageError: If the spec is malformed, its module cannot be imported,
            or it does not name a MetaData or declarative base.
    """
    from sqlalchemy import MetaData  # noqa: PLC0415

    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise pytest.UsageError(
            f"{INI_METADATA} must look like 'package.module:Base', not {spec!r}"
        )
    try:
        target: Any = import_module(module_name)
    except ImportError as error:
        raise pytest.UsageError(
            f"{INI_METADATA}={spec!r}: cannot import {module_name!r}: {error}"
        ) from error
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise pytest.UsageError(
                f"{INI_METADATA}={spec!r}: {module_name} has no {attribute!r}"
            ) from None
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
def chassis_database_url(
    chassis_postgres: ServerHandle, chassis_metadata: MetaData
) -> Iterator[str]:
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
    """An engine on the test database.

    It pools nothing: each connection is opened on the event loop that asks for
    it, so a test on a fresh event loop never meets a connection made on another.
    """
    from sqlalchemy.ext.asyncio import create_async_engine  # noqa: PLC0415
    from sqlalchemy.pool import NullPool  # noqa: PLC0415

    engine = create_async_engine(chassis_database_url, poolclass=NullPool)
    try:
        yield engine
    finally:
        await engine.dispose()


def require_shared_loop(request: pytest.FixtureRequest) -> None:
    """Fail clearly when a test would run on another event loop than ``db_session``.

    pytest-asyncio runs function-scoped async fixtures on the loop named by
    ``asyncio_default_fixture_loop_scope`` and each test on the loop of its
    ``asyncio`` mark (default ``asyncio_default_test_loop_scope``). A connection
    belongs to the loop it was opened on, so when the two differ every query in
    the test would fail with "attached to a different loop" deep inside asyncpg.

    Args:
        request: The requesting test's fixture request.

    Raises:
        pytest.UsageError: If the test's loop scope differs from the fixtures'.
    """
    marker = request.node.get_closest_marker("asyncio")
    if marker is None:
        return
    config = request.config
    test_scope = (
        marker.kwargs.get("loop_scope")
        or marker.kwargs.get("scope")
        or config.getini("asyncio_default_test_loop_scope")
        or "function"
    )
    fixture_scope = config.getini("asyncio_default_fixture_loop_scope")
    if fixture_scope in {None, "", "fixture-scope"}:
        fixture_scope = "function"
    if test_scope != fixture_scope:
        raise pytest.UsageError(
            f"{request.node.nodeid} runs on the {test_scope!r} event loop but db_session on the "
            f"{fixture_scope!r} one (asyncio_default_fixture_loop_scope), and a connection cannot "
            "cross event loops: give asyncio_default_fixture_loop_scope and the test's loop scope "
            "(asyncio_default_test_loop_scope or its asyncio mark) the same value"
        )


@pytest_asyncio.fixture
async def db_session(
    db_engine: AsyncEngine, request: pytest.FixtureRequest
) -> AsyncIterator[AsyncSession]:
    """A session whose every change, commits included, is rolled back after the test.

    The session joins an outer transaction with ``join_transaction_mode=
    "create_savepoint"``: ``commit()`` in the code under test releases a SAVEPOINT
    and the outer transaction is rolled back at the end. It runs on the event loop
    of function-scoped async fixtures, which the test must share (see
    :func:`require_shared_loop`).
    """
    from sqlalchemy.ext.asyncio import AsyncSession  # noqa: PLC0415

    require_shared_loop(request)
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
