"""The migrations: one head, a clean round trip, no drift from the models, and ``shop migrate``.

The first three are the chassis's ready-made checks (``chassis_alembic_ini`` in
``pyproject.toml`` points them at the migrations); each runs on an empty
database of its own.
"""

import asyncio

import pytest
from fastapi_chassis.testing.migrations import (  # noqa: F401 - collected as tests
    test_migrations_have_a_single_head,
    test_migrations_match_the_models,
    test_migrations_round_trip,
)
from fastapi_chassis.testing.postgres import ServerHandle, with_database
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from shop.cli import cli
from shop.migrations import alembic_ini

pytestmark = pytest.mark.slow


def schema(url: str) -> dict[str, list[str]]:
    """Return the tables of the database, by schema (public and audit)."""

    async def read() -> dict[str, list[str]]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(
                    lambda sync: {
                        name: sorted(inspect(sync).get_table_names(schema=name))
                        for name in inspect(sync).get_schema_names()
                        if name in {"public", "audit"}
                    }
                )
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_shop_migrate_applies_them(
    chassis_postgres: ServerHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    with with_database(chassis_postgres.url, prefix="shop_migrate") as url:
        monkeypatch.setenv("CHASSIS_DATABASE_URL", url)
        result = CliRunner().invoke(cli, ["migrate"])
        assert result.exit_code == 0, result.output
        assert "orders" in schema(url)["public"]


def test_the_configuration_is_found_from_anywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir("/")
    assert alembic_ini().name == "alembic.ini"
    found = alembic_ini()
    assert found.is_file()
    # A configured file that does not exist does not hide the project's.
    monkeypatch.setenv("SHOP_ALEMBIC_CONFIG", "/nonexistent/alembic.ini")
    assert alembic_ini() == found
