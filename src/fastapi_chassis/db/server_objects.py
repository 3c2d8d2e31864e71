"""The functions and triggers the mixins need on the server, derived from metadata.

One definition serves every way of installing them: :func:`install_on_create`
runs them when ``metadata.create_all()`` creates a table, and
:mod:`fastapi_chassis.db.migrations` turns the same :class:`ServerObject` list into
alembic-utils entities for autogenerate.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Column, MetaData, Table, event, text
from sqlalchemy.dialects.postgresql import CIDR, INET, MACADDR
from sqlalchemy.types import TypeEngine

from fastapi_chassis.db.columns import HOUSEKEEPING_ROLES, ColumnRole, column_role, column_with_role
from fastapi_chassis.db.sql_files import load_sql, qualified_name, quote_identifier, render_sql

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from sqlalchemy.engine import Connection

__all__ = [
    "ObjectKind",
    "ServerObject",
    "install_on_create",
    "server_objects",
    "table_objects",
]

_SQL = "fastapi_chassis.db.sql"
_IDENTIFIER_LIMIT = 63


class ObjectKind(StrEnum):
    """The kinds of server object the chassis installs."""

    FUNCTION = "function"
    TRIGGER = "trigger"


@dataclass(frozen=True, slots=True)
class ServerObject:
    """A function or trigger, with the statement that creates it.

    Attributes:
        kind: Function or trigger.
        schema: The schema the object lives in.
        name: The function name (without arguments) or the trigger name.
        create_sql: The ``CREATE [OR REPLACE]`` statement.
        table: For a trigger, the schema-qualified table it is on.
    """

    kind: ObjectKind
    schema: str
    name: str
    create_sql: str
    table: str | None = None

    @property
    def drop_sql(self) -> str:
        """The ``DROP ... IF EXISTS`` statement for this object."""
        if self.kind is ObjectKind.FUNCTION:
            return f"DROP FUNCTION IF EXISTS {qualified_name(self.schema, self.name)}()"
        return f"DROP TRIGGER IF EXISTS {quote_identifier(self.name)} ON {self.table}"


def uuid7_function() -> ServerObject:
    """The ``public.chassis_uuid7()`` function behind v7 server defaults."""
    return ServerObject(
        ObjectKind.FUNCTION,
        "public",
        "chassis_uuid7",
        load_sql(_SQL, "uuid7_function.sql"),
    )


def per_table_name(prefix: str, table: Table) -> str:
    """Return ``<prefix>_<table>``, shortened with a hash to fit PostgreSQL's 63 bytes."""
    name = f"{prefix}_{table.name}"
    if len(name.encode()) <= _IDENTIFIER_LIMIT:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name.encode()[: _IDENTIFIER_LIMIT - 9].decode(errors='ignore')}_{digest}"


def table_objects(table: Table) -> list[ServerObject]:
    """Return the server objects one table needs, in creation order.

    The shared ``chassis_uuid7()`` function is not included: it must exist before
    the table does (see :func:`server_objects`).
    """
    return _touch_objects(table)


def server_objects(metadata: MetaData) -> list[ServerObject]:
    """Return every server object the tables of ``metadata`` need, in creation order."""
    tables = list(metadata.sorted_tables)
    objects: list[ServerObject] = []
    if any(column_with_role(table, ColumnRole.UUID7_PRIMARY_KEY) is not None for table in tables):
        objects.append(uuid7_function())
    for table in tables:
        objects.extend(table_objects(table))
    return objects


def _touch_objects(table: Table) -> list[ServerObject]:
    updated_at = column_with_role(table, ColumnRole.UPDATED_AT)
    version = column_with_role(table, ColumnRole.VERSION)
    if updated_at is None and version is None:
        return []
    schema = table.schema or "public"
    function_name = per_table_name("chassis_touch", table)
    function = qualified_name(schema, function_name)
    when_changed: list[str] = []
    when_unchanged: list[str] = []
    if updated_at is not None:
        column = quote_identifier(updated_at.name)
        when_changed.append(f"NEW.{column} := now();")
        when_unchanged.append(f"NEW.{column} := OLD.{column};")
    if version is not None:
        column = quote_identifier(version.name)
        when_changed.append(f"NEW.{column} := OLD.{column} + 1;")
        when_unchanged.append(f"NEW.{column} := OLD.{column};")
    function_sql = render_sql(
        _SQL,
        "touch_function.sql",
        function=function,
        row_changed=_row_changed(_compared_columns(table)),
        when_changed=_indent(when_changed),
        when_unchanged=_indent(when_unchanged),
    )
    trigger_sql = render_sql(
        _SQL,
        "touch_trigger.sql",
        table=qualified_name(table.schema, table.name),
        function=function,
    )
    return [
        ServerObject(ObjectKind.FUNCTION, schema, function_name, function_sql),
        ServerObject(
            ObjectKind.TRIGGER,
            schema,
            "chassis_touch",
            trigger_sql,
            table=qualified_name(table.schema, table.name),
        ),
    ]


def _compared_columns(table: Table) -> list[Column[Any]]:
    return [
        column
        for column in table.columns
        if column_role(column) not in HOUSEKEEPING_ROLES and column.computed is None
    ]


# Types without an equality operator are compared through their text form.
_COMPARED_AS_TEXT: tuple[type[TypeEngine[Any]], ...] = (JSON, INET, CIDR, MACADDR)


def _comparable(row: str, column: Column[Any]) -> str:
    reference = f"{row}.{quote_identifier(column.name)}"
    if isinstance(column.type, _COMPARED_AS_TEXT) and not _is_jsonb(column.type):
        return f"{reference}::text"
    return reference


def _is_jsonb(type_: TypeEngine[Any]) -> bool:
    return type(type_).__name__ == "JSONB"


def _row_changed(columns: list[Column[Any]]) -> str:
    if not columns:
        return "false"
    new = ", ".join(_comparable("NEW", column) for column in columns)
    old = ", ".join(_comparable("OLD", column) for column in columns)
    if len(columns) == 1:
        return f"{new} IS DISTINCT FROM {old}"
    return f"ROW({new}) IS DISTINCT FROM ROW({old})"


def _indent(lines: Iterable[str]) -> str:
    return "\n".join(f"        {line}" for line in lines)


def _execute(connection: Connection, statements: Iterator[str]) -> None:
    for statement in statements:
        connection.execute(text(statement))


def _before_create(table: Table, connection: Connection, **_: object) -> None:
    if column_with_role(table, ColumnRole.UUID7_PRIMARY_KEY) is not None:
        _execute(connection, iter([uuid7_function().create_sql]))


def _after_create(table: Table, connection: Connection, **_: object) -> None:
    _execute(connection, (item.create_sql for item in table_objects(table)))


def _after_drop(table: Table, connection: Connection, **_: object) -> None:
    # Dropping a table drops its triggers; its functions are left behind.
    _execute(
        connection,
        (item.drop_sql for item in table_objects(table) if item.kind is ObjectKind.FUNCTION),
    )


def install_on_create(table: Table) -> None:
    """Make ``create_all()`` / ``Table.create()`` install what ``table`` needs.

    Called by :class:`~fastapi_chassis.db.Base` for every mapped table. Safe to call
    more than once.
    """
    for name, listener in (
        ("before_create", _before_create),
        ("after_create", _after_create),
        ("after_drop", _after_drop),
    ):
        if not event.contains(table, name, listener):
            event.listen(table, name, listener)
