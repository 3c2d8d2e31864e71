"""Installing the audit directly: ``install_audit()`` and the ``create_all()`` listeners.

Both run the statements of :mod:`~fastapi_chassis.db.audit.objects` in order: the
installation (role, schema, log table), ``chassis_uuid7()``, the helper functions,
each table's capture functions and triggers, then the finish (ownership, default
privileges, partitions ahead). Migrations emit the same statements (see
:mod:`~fastapi_chassis.db.audit.revision`).

Statements go to the driver as they are (``exec_driver_sql``), so column names
are never mistaken for bind parameters.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from sqlalchemy import Table, event, text

from fastapi_chassis.db.audit.objects import (
    DEFAULT_MONTHS_AHEAD,
    capture_function_name,
    finish_statement,
    helper_objects,
    install_statement,
    table_audit_objects,
)
from fastapi_chassis.db.audit.tables import (
    AUDIT_SCHEMA,
    audit_options,
    audit_owner_role,
    audited_tables,
    table_label,
)
from fastapi_chassis.db.server_objects import ObjectKind, uuid7_function
from fastapi_chassis.db.sql_files import qualified_name, quote_identifier

if TYPE_CHECKING:
    from sqlalchemy import MetaData
    from sqlalchemy.engine import Connection

__all__ = ["install_audit", "install_on_create"]


def install_audit(
    connection: Connection,
    metadata: MetaData,
    *,
    months_ahead: int = DEFAULT_MONTHS_AHEAD,
    readers: Iterable[str] = (),
) -> list[str]:
    """Install the audit for the audited tables of ``metadata`` that exist in the database.

    Idempotent: run it again after adding :class:`~fastapi_chassis.db.AuditMixin` to
    a model, or to repair a database. It creates what is missing (the owner role,
    the ``audit`` schema, the partitioned log) and creates or replaces the
    functions and triggers; audit rows already written are kept. Tables of the
    metadata that do not exist yet are skipped (``create_all()`` installs theirs
    when it creates them).

    It runs in the connection's transaction: use ``engine.begin()``, or commit.
    It takes a synchronous :class:`~sqlalchemy.engine.Connection`; from async code,
    ``await connection.run_sync(install_audit, metadata)``.

    Run as a superuser, it creates the owner role if needed. Run as another role
    (the migration role), that role needs ``CREATEROLE`` when the owner role does
    not exist yet, and is made a member of the owner role so it can hand the
    functions over to it; the application role must not be that role.

    Args:
        connection: A connection to the database.
        metadata: The metadata whose audited tables to install for.
        months_ahead: Monthly partitions to create beyond the current month.
        readers: Roles to grant ``SELECT`` on ``audit.log`` (for
            :func:`~fastapi_chassis.db.audit.audit_history`).

    Returns:
        The schema-qualified names of the tables now audited.

    Example:
        >>> async with engine.begin() as connection:
        ...     await connection.run_sync(install_audit, Base.metadata, readers=["app"])
    """
    tables = [table for table in audited_tables(metadata) if _exists(connection, table)]
    _install(connection, audit_owner_role(metadata), tables, months_ahead)
    for statement in _reader_grants(readers):
        connection.exec_driver_sql(statement)
    return [table_label(table) for table in tables]


def _install(
    connection: Connection, owner: str, tables: Iterable[Table], months_ahead: int
) -> None:
    statements = [
        install_statement(owner),
        uuid7_function().create_sql,
        *(item.create_sql for item in helper_objects()),
        *(statement for table in tables for statement in _table_statements(table)),
        finish_statement(owner, months_ahead),
    ]
    for statement in statements:
        connection.exec_driver_sql(statement)


def _table_statements(table: Table) -> Iterator[str]:
    for item in table_audit_objects(table):
        if item.kind is ObjectKind.TRIGGER:
            # CREATE OR REPLACE TRIGGER would do on 14+, but the entity keeps the
            # form alembic-utils parses; replacing is dropping and creating.
            yield item.drop_sql
        yield item.create_sql


def _reader_grants(readers: Iterable[str]) -> Iterator[str]:
    for reader in readers:
        role = quote_identifier(reader)
        yield f"GRANT USAGE ON SCHEMA {AUDIT_SCHEMA} TO {role}"
        yield f"GRANT SELECT ON {AUDIT_SCHEMA}.log TO {role}"


def _exists(connection: Connection, table: Table) -> bool:
    found = connection.execute(
        text("SELECT to_regclass(:name) IS NOT NULL"),
        {"name": qualified_name(table.schema, table.name)},
    ).scalar_one()
    return bool(found)


def _after_create(table: Table, connection: Connection, **_: object) -> None:
    if audit_options(table) is not None:
        _install(connection, audit_owner_role(table.metadata), [table], DEFAULT_MONTHS_AHEAD)


def _after_drop(table: Table, connection: Connection, **_: object) -> None:
    # The triggers went with the table; its capture functions stay unless dropped.
    if audit_options(table) is None:
        return
    for kind in ("INSERT", "UPDATE", "DELETE"):
        function = qualified_name(AUDIT_SCHEMA, capture_function_name(table, kind))
        connection.exec_driver_sql(f"DROP FUNCTION IF EXISTS {function}()")


def install_on_create(table: Table) -> None:
    """Make ``create_all()`` / ``Table.create()`` install the audit of ``table``.

    Called by :func:`~fastapi_chassis.db.audit.enable_audit`; safe to call more
    than once.
    """
    for name, listener in (("after_create", _after_create), ("after_drop", _after_drop)):
        if not event.contains(table, name, listener):
            event.listen(table, name, listener)
