"""Fixtures of the events tests: the outbox on the test database, metrics, a broker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from prometheus_client import CollectorRegistry
from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

import fastapi_chassis.events  # noqa: F401 - puts the outbox table in Base.metadata
import tests.db.models  # noqa: F401 - the shared tables, created with the session database
from fastapi_chassis.events.metrics import RelayMetrics
from tests.events.broker import running_broker


@pytest_asyncio.fixture
async def engine(chassis_database_url: str) -> AsyncIterator[AsyncEngine]:
    """A pooled engine on the test database, with an empty outbox before and after."""
    engine = create_async_engine(chassis_database_url, pool_size=5, max_overflow=5)
    async with engine.begin() as connection:
        await connection.execute(text("TRUNCATE chassis_outbox"))
    try:
        yield engine
    finally:
        async with engine.begin() as connection:
            await connection.execute(text("TRUNCATE chassis_outbox"))
        await engine.dispose()


@pytest.fixture
def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@pytest.fixture
def metrics() -> RelayMetrics:
    """Relay metrics of the test's own (so counts start at zero)."""
    return RelayMetrics(CollectorRegistry())


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``host:port`` of a Kafka-API broker (Tansu) running for this test session."""
    log_path: Path = tmp_path_factory.mktemp("broker") / "tansu.log"
    with log_path.open("wb") as log:
        try:
            broker = running_broker(log)
            address = broker.__enter__()
        except RuntimeError as error:
            pytest.skip(f"no Kafka-API broker: {error}")
        try:
            yield address
        finally:
            broker.__exit__(None, None, None)
