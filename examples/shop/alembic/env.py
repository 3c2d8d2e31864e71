"""Alembic's entry point for the shop's migrations (async, asyncpg).

Three lines set it apart from Alembic's async template, all from the chassis's
migration guides:

* ``register_entities`` hands autogenerate the server-side SQL that metadata
  cannot express: the chassis's functions and triggers (UUIDv7 keys,
  ``updated_at`` and ``version``, the audit log and its triggers) and the
  outbox's notification trigger;
* ``include_object`` keeps autogenerate from dropping the audit log's monthly
  partitions, which are made at run time;
* ``process_revision_directives`` orders the generated operations so that
  PostgreSQL accepts them (functions before the tables that call them).

The database URL comes from ``-x database_url=...``, else the environment
(``CHASSIS_DATABASE_URL`` or ``DATABASE_URL``), as for the application. Code that
runs migrations itself (``shop migrate``, the tests) may pass the URL in
``config.attributes["database_url"]`` or the ``sqlalchemy.url`` option, or an
open connection in ``config.attributes["connection"]``.
"""

import asyncio
from logging.config import fileConfig

from alembic import context
from alembic_utils.replaceable_entity import register_entities
from fastapi_chassis import ChassisSettings
from fastapi_chassis.db.migrations import (
    chassis_entities,
    include_object,
    process_revision_directives,
)
from fastapi_chassis.events.migrations import outbox_entities
from fastapi_chassis.settings import normalize_database_url
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from shop.models import Base

config = context.config

# Programmatic callers configure logging themselves; fileConfig would replace it.
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata
register_entities([*chassis_entities(target_metadata), *outbox_entities(target_metadata)])


def database_url() -> str:
    """Return the URL to migrate.

    In order: given by the calling code, ``-x database_url=...``, the
    ``sqlalchemy.url`` option (which tools that drive Alembic set), the settings'.
    """
    given = (
        config.attributes.get("database_url")
        or context.get_x_argument(as_dictionary=True).get("database_url")
        or config.get_main_option("sqlalchemy.url")
    )
    url = normalize_database_url(given) if given else ChassisSettings().require_database_url()
    return url.render_as_string(hide_password=False)


def run_migrations_offline() -> None:
    """Write the migrations' SQL to standard output (``alembic upgrade --sql``)."""
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        include_object=include_object,
        process_revision_directives=process_revision_directives,
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    """Run the migrations on an open connection."""
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        process_revision_directives=process_revision_directives,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    """Open a connection (no pool: the process is about to end) and migrate through it."""
    engine = create_async_engine(database_url(), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    """Migrate the database, on the caller's connection if it passed one."""
    connection = config.attributes.get("connection")
    if connection is not None:
        do_run_migrations(connection)
    else:
        asyncio.run(run_async_migrations())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
