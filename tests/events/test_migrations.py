"""The outbox in migrations: what create_all installs is what autogenerate expects."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic_utils.pg_function import PGFunction
from alembic_utils.pg_trigger import PGTrigger
from sqlalchemy import Connection, MetaData
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from fastapi_chassis.db import Base
from fastapi_chassis.events import outbox_table
from fastapi_chassis.events.migrations import outbox_entities


def on_connection(url: str, work: Any) -> Any:
    async def run() -> Any:
        engine = create_async_engine(url, poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(work)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_the_outbox_is_part_of_base_metadata() -> None:
    assert Base.metadata.tables["chassis_outbox"] is outbox_table
    indexes = {index.name: index for index in outbox_table.indexes}
    assert set(indexes) == {"ix_chassis_outbox_pending", "ix_chassis_outbox_pending_aggregate"}
    for index in indexes.values():
        assert str(index.dialect_options["postgresql"]["where"]) == "published_at IS NULL"


def test_autogenerate_sees_no_difference_after_create_all(chassis_database_url: str) -> None:
    def compare(connection: Connection) -> list[Any]:
        # alembic-utils' comparator (registered on import) reads include_schemas.
        options = {"compare_type": True, "include_schemas": False}
        context = MigrationContext.configure(connection, opts=options)
        differences: list[Any] = compare_metadata(context, Base.metadata)
        return differences

    differences = on_connection(chassis_database_url, compare)
    assert [item for item in differences if "chassis_outbox" in repr(item)] == []


def test_the_trigger_entities_match_what_create_all_installed(chassis_database_url: str) -> None:
    entities = outbox_entities(Base.metadata)
    assert isinstance(entities[0], PGFunction)
    assert isinstance(entities[1], PGTrigger)

    def required(connection: Connection) -> list[Any]:
        with Session(bind=connection) as session:
            return [entity.get_required_migration_op(session) for entity in entities]

    assert on_connection(chassis_database_url, required) == [None, None]


def test_metadata_without_the_outbox_needs_no_trigger() -> None:
    assert outbox_entities(MetaData()) == []
