"""An application's Alembic ``env.py``, as the migrations module documents it.

Only the metadata and the database URL differ from the recipe: each test hands
them over through ``Config.attributes``.
"""

from __future__ import annotations

import asyncio

from alembic import context
from alembic_utils.replaceable_entity import register_entities
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from fastapi_chassis.db.migrations import (
    chassis_entities,
    include_object,
    process_revision_directives,
)

config = context.config
target_metadata = config.attributes["target_metadata"]
register_entities(chassis_entities(target_metadata))


def do_run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        process_revision_directives=process_revision_directives,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    connectable = create_async_engine(config.attributes["database_url"], poolclass=pool.NullPool)
    try:
        async with connectable.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await connectable.dispose()


asyncio.run(run_async_migrations())
