"""The template database: the schema is built once, then cloned for every test run.

Building a schema (``create_all()`` with the audit, or every Alembic migration)
takes seconds; ``CREATE DATABASE ... TEMPLATE`` copies a built one in a fraction
of that. So the plugin keeps one template database per project on the server
(``chassis_tpl_<project>_<hash of the project directory>``) and gives each test
run, and each pytest-xdist worker of a run, a clone of its own.

The template's comment (``COMMENT ON DATABASE``) holds a fingerprint of what it
was built from: the DDL ``create_all()`` emits for the metadata (tables,
indexes, the chassis functions and triggers, DDL events), the migration files
when the schema comes from Alembic, the versions of this package and of
SQLAlchemy, and the current month (the audit log's partitions are created ahead
from the month of the build). A run whose fingerprint differs rebuilds the
template; one whose fingerprint matches only clones it. Builders take a
PostgreSQL advisory lock named after the template, so parallel workers and
parallel runs build it once and never clone a half-built one. A finished
template refuses connections (``ALLOW_CONNECTIONS false``), because PostgreSQL
cannot clone a database anyone is connected to.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import MetaData
    from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = [
    "TEMPLATE_PREFIX",
    "SchemaMode",
    "SchemaSource",
    "clone_template",
    "metadata_ddl",
    "template_name",
]

TEMPLATE_PREFIX = "chassis_tpl_"
"""How the names of template databases begin."""

_COMMENT = "fastapi-chassis test template "
_FORMAT = "1"
# SQLSTATE 55006: the source database is being accessed by other users. A
# connection that was just closed can linger for a moment in the server.
_OBJECT_IN_USE = "55006"
_CLONE_ATTEMPTS = 50
_CLONE_PAUSE = 0.1


class SchemaMode(StrEnum):
    """Where the schema of the test database comes from (ini option ``chassis_schema``)."""

    CREATE_ALL = "create_all"
    """``metadata.create_all()``, then ``install_audit()`` for audited tables."""
    ALEMBIC = "alembic"
    """``alembic upgrade head`` with the application's ``alembic.ini``."""


@dataclass(frozen=True)
class SchemaSource:
    """What the template database is built from.

    Attributes:
        mode: ``create_all`` or ``alembic``.
        metadata: The application's metadata (part of the fingerprint in both modes).
        alembic_ini: The ``alembic.ini`` to migrate with; required in ``alembic`` mode.
    """

    mode: SchemaMode
    metadata: MetaData
    alembic_ini: Path | None = None

    def fingerprint(self) -> str:
        """Return the hash that decides whether a template is still current."""
        digest = hashlib.sha256()
        for part in self._fingerprint_parts():
            digest.update(part)
            digest.update(b"\x00")
        return digest.hexdigest()

    def _fingerprint_parts(self) -> list[bytes]:
        import sqlalchemy  # noqa: PLC0415

        from fastapi_chassis import __version__  # noqa: PLC0415

        parts = [
            _FORMAT.encode(),
            __version__.encode(),
            sqlalchemy.__version__.encode(),
            self.mode.value.encode(),
            datetime.now(UTC).strftime("%Y-%m").encode(),
            *(statement.encode() for statement in metadata_ddl(self.metadata)),
        ]
        if self.mode is SchemaMode.ALEMBIC:
            from fastapi_chassis.testing.migrations import migration_files  # noqa: PLC0415

            parts.extend(migration_files(self._require_ini()))
        return parts

    def _require_ini(self) -> Path:
        if self.alembic_ini is None:
            raise ValueError("the alembic schema mode needs the path of alembic.ini")
        return self.alembic_ini

    async def build(self, url: str) -> None:
        """Create the schema in the (empty) database at ``url``.

        Args:
            url: The database to build in.
        """
        if self.mode is SchemaMode.ALEMBIC:
            from fastapi_chassis.testing.migrations import upgrade  # noqa: PLC0415

            ini = self._require_ini()
            # env.py usually calls asyncio.run(), which needs a thread without a loop.
            await asyncio.to_thread(upgrade, ini, url, "head")
            return
        await _create_all(url, self.metadata)


def metadata_ddl(metadata: MetaData) -> list[str]:
    """Return the statements ``create_all()`` would run for ``metadata``, as text.

    DDL events run too (the chassis functions and triggers, the audit, the
    outbox trigger), against a connection that records instead of executing.

    Args:
        metadata: The metadata.

    Returns:
        The statements in execution order.
    """
    from sqlalchemy import create_mock_engine  # noqa: PLC0415
    from sqlalchemy.engine import make_url  # noqa: PLC0415

    statements: list[str] = []

    def record(statement: object, *_args: object, **_kwargs: object) -> None:
        compile_ = getattr(statement, "compile", None)
        text = str(compile_(dialect=recorder.dialect)) if compile_ is not None else str(statement)
        statements.append(" ".join(text.split()))

    recorder = create_mock_engine(make_url("postgresql+asyncpg://"), record)
    # The audit's DDL events send SQL as driver text; a mock connection lacks that method.
    recorder.exec_driver_sql = record  # type: ignore[attr-defined]
    try:
        metadata.create_all(recorder, checkfirst=False)
    except Exception:  # noqa: BLE001 - a DDL event of the application's that needs a database
        return _tables_ddl(metadata)
    return statements


def _tables_ddl(metadata: MetaData) -> list[str]:
    # Without the DDL events: the tables and indexes still change the fingerprint.
    from sqlalchemy.dialects import postgresql  # noqa: PLC0415
    from sqlalchemy.schema import CreateIndex, CreateTable  # noqa: PLC0415

    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    statements = []
    for table in metadata.sorted_tables:
        statements.append(str(CreateTable(table).compile(dialect=dialect)))
        statements.extend(
            str(CreateIndex(index).compile(dialect=dialect))
            for index in sorted(table.indexes, key=lambda index: str(index.name))
        )
    return [" ".join(statement.split()) for statement in statements]


async def _create_all(url: str, metadata: MetaData) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine  # noqa: PLC0415
    from sqlalchemy.pool import NullPool  # noqa: PLC0415

    from fastapi_chassis.db.audit import audit_entities, install_audit  # noqa: PLC0415

    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
            # create_all() installs the audit through DDL events already; this
            # also covers tables whose audit was configured after they existed.
            if audit_entities(metadata):
                await connection.run_sync(install_audit, metadata)
    finally:
        await engine.dispose()


def template_name(rootdir: Path) -> str:
    """Return the name of the template database of the project in ``rootdir``.

    Args:
        rootdir: The project's directory (pytest's ``rootdir``).

    Returns:
        ``chassis_tpl_`` plus the directory's name (letters and digits only) and a
        hash of its absolute path, so projects sharing a server keep apart.
    """
    resolved = rootdir.resolve()
    readable = re.sub(r"[^a-z0-9]+", "_", resolved.name.lower()).strip("_")[:20]
    digest = hashlib.sha256(str(resolved).encode()).hexdigest()[:12]
    return f"{TEMPLATE_PREFIX}{readable}_{digest}" if readable else f"{TEMPLATE_PREFIX}{digest}"


def clone_template(
    server_url: str, source: SchemaSource, template: str, name: str, *, rebuild: bool = False
) -> str:
    """Make database ``name`` as a clone of ``template``, (re)building the template first if needed.

    Args:
        server_url: A URL the server accepts ``CREATE DATABASE`` through.
        source: What the template is built from.
        template: The template's name (see :func:`template_name`).
        name: The new database's name.
        rebuild: Build the template even if its fingerprint matches.

    Returns:
        The URL of the new database.

    Raises:
        ValueError: If a name is not a safe database name.
    """
    from fastapi_chassis.testing.postgres import (  # noqa: PLC0415
        check_database_name,
        database_url,
        run_sync,
    )

    check_database_name(template)
    check_database_name(name)
    fingerprint = source.fingerprint()
    run_sync(lambda: _clone(server_url, source, template, name, fingerprint, rebuild=rebuild))
    return database_url(server_url, name)


async def _clone(
    server_url: str,
    source: SchemaSource,
    template: str,
    name: str,
    fingerprint: str,
    *,
    rebuild: bool,
) -> None:
    from sqlalchemy import text  # noqa: PLC0415
    from sqlalchemy.ext.asyncio import create_async_engine  # noqa: PLC0415
    from sqlalchemy.pool import NullPool  # noqa: PLC0415

    from fastapi_chassis.db.sql_files import load_sql  # noqa: PLC0415

    engine = create_async_engine(server_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            # Session-level: held across the build, released when the connection closes.
            await connection.execute(
                text("SELECT pg_advisory_lock(hashtextextended(:name, 0))"), {"name": template}
            )
            current = await connection.scalar(
                text(load_sql("fastapi_chassis.testing.sql", "template_comment.sql")),
                {"name": template},
            )
            if rebuild or current != _COMMENT + fingerprint:
                await _build_template(connection, server_url, source, template, fingerprint)
            await _create_from(connection, template, name)
    finally:
        await engine.dispose()


async def _build_template(
    connection: AsyncConnection,
    server_url: str,
    source: SchemaSource,
    template: str,
    fingerprint: str,
) -> None:
    from fastapi_chassis.testing.postgres import database_url  # noqa: PLC0415

    await connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
    await connection.exec_driver_sql(f'CREATE DATABASE "{template}"')
    try:
        await source.build(database_url(server_url, template))
        # The comment goes last: a template whose build failed half-way never matches.
        await connection.exec_driver_sql(
            f"COMMENT ON DATABASE \"{template}\" IS '{_COMMENT}{fingerprint}'"
        )
        await connection.exec_driver_sql(
            f'ALTER DATABASE "{template}" WITH ALLOW_CONNECTIONS false'
        )
    except BaseException:
        await connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
        raise


async def _create_from(connection: AsyncConnection, template: str, name: str) -> None:
    from sqlalchemy.exc import DBAPIError  # noqa: PLC0415

    from fastapi_chassis.db.errors import sqlstate  # noqa: PLC0415

    for attempt in range(_CLONE_ATTEMPTS):
        try:
            await connection.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        except DBAPIError as error:
            if sqlstate(error) != _OBJECT_IN_USE or attempt == _CLONE_ATTEMPTS - 1:
                raise
            await asyncio.sleep(_CLONE_PAUSE)
        else:
            return
