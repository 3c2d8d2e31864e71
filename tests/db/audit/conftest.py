"""A database of audited tables for the audit tests, and the roles they need.

The database is made once per session with ``create_all()`` (which installs the
audit) on the server the plugin provides. Each test gets a session whose work
is rolled back; tests that must commit (separate transactions, other roles) use
``audit_engine`` and clean up after themselves, or a database of their own.
Roles belong to the whole cluster: every role made here has a unique name and
is dropped at the end.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import pytest
import pytest_asyncio
from sqlalchemy import MetaData, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from fastapi_chassis.testing.postgres import ServerHandle, run_sync, with_database
from tests.db.audit.models import AUDIT_METADATA, OWNER_ROLE


async def execute(url: str, *statements: str) -> None:
    """Run each statement in its own committed transaction."""
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        for statement in statements:
            async with engine.begin() as connection:
                await connection.execute(text(statement))
    finally:
        await engine.dispose()


async def create_schema(url: str, metadata: MetaData) -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE SCHEMA IF NOT EXISTS ledger"))
            await connection.run_sync(metadata.create_all)
    finally:
        await engine.dispose()


def as_role(url: str, role: str) -> str:
    """The URL of the same database, logged in as ``role`` (the servers trust local logins)."""
    return make_url(url).set(username=role, password=None).render_as_string(hide_password=False)


def unique_role(kind: str) -> str:
    return f"chassis_{kind}_{secrets.token_hex(4)}"


@contextmanager
def roles(server_url: str, *definitions: str) -> Iterator[list[str]]:
    """Create roles (``CREATE ROLE <name> <definition>``) and drop them afterwards."""
    names = [unique_role("t") for _ in definitions]
    run_sync(
        lambda: execute(
            server_url,
            *(
                f"CREATE ROLE {name} {definition}"
                for name, definition in zip(names, definitions, strict=True)
            ),
        )
    )
    try:
        yield names
    finally:
        run_sync(lambda: execute(server_url, *(f"DROP ROLE IF EXISTS {name}" for name in names)))


@pytest.fixture(scope="session")
def audit_owner_role(chassis_postgres: ServerHandle) -> Iterator[str]:
    """The owner role the test metadata names; dropped once every test database is gone."""
    yield OWNER_ROLE
    run_sync(lambda: execute(chassis_postgres.url, f"DROP ROLE IF EXISTS {OWNER_ROLE}"))


@pytest.fixture(scope="session")
def audit_database_url(chassis_postgres: ServerHandle, audit_owner_role: str) -> Iterator[str]:
    """A database with the audited test tables, made by ``create_all()``."""
    del audit_owner_role  # requested for its teardown, which must come after this one's
    with with_database(chassis_postgres.url, prefix="chassis_audit") as url:
        run_sync(lambda: create_schema(url, AUDIT_METADATA))
        yield url


@pytest.fixture
def fresh_database(chassis_postgres: ServerHandle, audit_owner_role: str) -> Iterator[str]:
    """An empty database of the test's own, dropped afterwards."""
    del audit_owner_role
    with with_database(chassis_postgres.url, prefix="chassis_audit") as url:
        yield url


@pytest.fixture
def audited_database(fresh_database: str) -> str:
    """A database of the test's own with the audited test tables."""
    run_sync(lambda: create_schema(fresh_database, AUDIT_METADATA))
    return fresh_database


@pytest_asyncio.fixture
async def audit_engine(audit_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(audit_database_url, poolclass=NullPool)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest_asyncio.fixture
async def session(audit_engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session whose every change, commits included, is rolled back after the test."""
    async with audit_engine.connect() as connection:
        transaction = await connection.begin()
        session = AsyncSession(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        try:
            yield session
        finally:
            await session.close()
            await transaction.rollback()
