from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from fastapi_chassis import ChassisSettings, ConfigurationError
from fastapi_chassis.db import create_engine, create_sessionmaker


def _settings(url: str, **fields: Any) -> ChassisSettings:
    return ChassisSettings(database_url=url, service_name="orders-api", **fields)


@pytest.mark.asyncio
async def test_engine_connects_with_pool_settings_and_session_parameters(
    chassis_database_url: str,
) -> None:
    engine = create_engine(
        _settings(
            chassis_database_url, db_pool_size=3, db_max_overflow=2, db_statement_timeout_ms=1234
        )
    )
    try:
        assert engine.pool.size() == 3  # type: ignore[attr-defined]
        async with engine.connect() as connection:
            name = (await connection.execute(text("SHOW application_name"))).scalar_one()
            timeout = (await connection.execute(text("SHOW statement_timeout"))).scalar_one()
        assert name == "orders-api"
        assert timeout == "1234ms"
    finally:
        await engine.dispose()


@pytest.mark.asyncio
async def test_pgbouncer_mode_turns_off_prepared_statement_caches(
    chassis_database_url: str,
) -> None:
    engine = create_engine(_settings(chassis_database_url, db_pgbouncer=True))
    try:
        async with engine.connect() as connection:
            raw = await connection.get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None
            # asyncpg's own statement cache is off...
            assert driver._stmt_cache.get_max_size() == 0
            # ...and statements still run, repeatedly, with unique names.
            for _ in range(3):
                assert (await connection.execute(text("SELECT 1"))).scalar_one() == 1
            timeout = (await connection.execute(text("SHOW statement_timeout"))).scalar_one()
        # PgBouncer rejects unknown startup parameters: none is sent.
        assert timeout == "0"
    finally:
        await engine.dispose()


def test_engine_options_can_be_overridden() -> None:
    engine = create_engine(_settings("postgresql://app@db/shop"), pool_size=1, echo=True)
    assert engine.echo is True
    assert engine.pool.size() == 1  # type: ignore[attr-defined]
    assert engine.url == make_url("postgresql+asyncpg://app@db/shop")


def test_engine_needs_a_database_url() -> None:
    with pytest.raises(ConfigurationError):
        create_engine(ChassisSettings(database_url=None))


def test_sessionmaker_keeps_objects_loaded_after_commit() -> None:
    engine = create_engine(_settings("postgresql://app@db/shop"))
    sessionmaker = create_sessionmaker(engine)
    assert sessionmaker.kw["expire_on_commit"] is False
