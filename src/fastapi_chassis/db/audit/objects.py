"""The audit's server-side SQL, rendered from the ``.sql`` files in ``audit/sql``.

Three kinds of statement come out of here, and every way of installing the audit
(``create_all()``, :func:`~fastapi_chassis.db.audit.install_audit`, Alembic
migrations) uses the same ones:

* the *installation* (``install.sql``): the owner role, the ``audit`` schema, the
  partitioned ``audit.log`` and the pause table; idempotent, one statement;
* the functions and triggers, as :class:`~fastapi_chassis.db.server_objects.ServerObject`
  values: the helpers shared by every audited table (pause, partitions,
  TRUNCATE) and, per audited table, a capture function per event generated
  from its columns, and one statement-level trigger per event;
* the *finish* (``finish.sql``), run after functions are created: hands them to
  the owner role, revokes their default ``EXECUTE`` from ``PUBLIC`` and creates
  the partitions ahead.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi_chassis.db.audit.tables import (
    AUDIT_SCHEMA,
    audit_options,
    audited_tables,
    table_label,
)
from fastapi_chassis.db.columns import HOUSEKEEPING_ROLES, ColumnRole, column_role
from fastapi_chassis.db.server_objects import (
    ObjectKind,
    ServerObject,
    _comparable,
    per_table_name,
)
from fastapi_chassis.db.sql_files import load_sql, qualified_name, quote_identifier, render_sql

if TYPE_CHECKING:
    from sqlalchemy import Column, MetaData, Table

__all__ = [
    "DEFAULT_MONTHS_AHEAD",
    "TRIGGER_EVENTS",
    "audit_objects",
    "capture_function_name",
    "finish_statement",
    "helper_objects",
    "install_statement",
    "table_audit_objects",
    "uninstall_statement",
]

_SQL = "fastapi_chassis.db.audit.sql"

DEFAULT_MONTHS_AHEAD = 3
"""How many months of partitions beyond the current one an installation creates."""


@dataclass(frozen=True, slots=True)
class _Event:
    name: str
    referencing: str
    statement: str | None  # the capture statement's file; None for TRUNCATE


_EVENTS = (
    _Event("INSERT", "REFERENCING NEW TABLE AS chassis_new", "capture_insert.sql"),
    _Event(
        "UPDATE",
        "REFERENCING OLD TABLE AS chassis_old NEW TABLE AS chassis_new",
        "capture_update.sql",
    ),
    _Event("DELETE", "REFERENCING OLD TABLE AS chassis_old", "capture_delete.sql"),
    _Event("TRUNCATE", "", None),
)

TRIGGER_EVENTS = tuple(event.name for event in _EVENTS)
"""The events each audited table has a ``chassis_audit_<event>`` trigger for."""

_HELPERS = (
    ("record_truncate", "record_truncate.sql"),
    ("create_partitions", "create_partitions.sql"),
    ("drop_partitions", "drop_partitions.sql"),
    ("pause_auditing", "pause_auditing.sql"),
    ("resume_auditing", "resume_auditing.sql"),
)


def install_statement(owner_role: str) -> str:
    """The idempotent statement that creates the role, schema and tables of the audit log."""
    return render_sql(_SQL, "install.sql", owner=owner_role)


def finish_statement(owner_role: str, months_ahead: int = DEFAULT_MONTHS_AHEAD) -> str:
    """The statement that secures the audit functions and creates partitions ahead."""
    return render_sql(_SQL, "finish.sql", owner=owner_role, months_ahead=str(int(months_ahead)))


def uninstall_statement() -> str:
    """The statement that drops the audit log and schema (not the owner role)."""
    return load_sql(_SQL, "uninstall.sql")


def helper_objects() -> list[ServerObject]:
    """The functions in the ``audit`` schema that every audited table shares."""
    return [
        ServerObject(ObjectKind.FUNCTION, AUDIT_SCHEMA, name, load_sql(_SQL, file))
        for name, file in _HELPERS
    ]


def audit_objects(metadata: MetaData) -> list[ServerObject]:
    """Return the audit functions and triggers the tables of ``metadata`` need, in order.

    Empty when no table is audited. ``chassis_uuid7()``, which the helper functions
    call, is not included; see :func:`fastapi_chassis.db.audit.audit_entities`.
    """
    tables = audited_tables(metadata)
    if not tables:
        return []
    objects = helper_objects()
    for table in tables:
        objects.extend(table_audit_objects(table))
    return objects


def capture_function_name(table: Table, event: str) -> str:
    """The name, in the ``audit`` schema, of ``table``'s function for ``event``."""
    return per_table_name(f"capture_{event.lower()}_{table.schema or 'public'}", table)


def table_audit_objects(table: Table) -> list[ServerObject]:
    """Return the capture functions and the four triggers of one audited table.

    Raises:
        ValueError: If ``table`` is not audited.
    """
    if audit_options(table) is None:
        raise ValueError(f"table {table.fullname} is not audited")
    fields = _capture_fields(table)
    target = qualified_name(table.schema, table.name)
    functions: list[ServerObject] = []
    triggers: list[ServerObject] = []
    for event in _EVENTS:
        if event.statement is None:
            handler = "audit.record_truncate"
        else:
            name = capture_function_name(table, event.name)
            handler = qualified_name(AUDIT_SCHEMA, name)
            statement = textwrap.indent(render_sql(_SQL, event.statement, **fields), "    ")
            functions.append(
                ServerObject(
                    ObjectKind.FUNCTION,
                    AUDIT_SCHEMA,
                    name,
                    render_sql(
                        _SQL, "capture_function.sql", function=handler, statement=statement.strip()
                    ),
                )
            )
        trigger = f"chassis_audit_{event.name.lower()}"
        triggers.append(
            ServerObject(
                ObjectKind.TRIGGER,
                table.schema or "public",
                trigger,
                render_sql(
                    _SQL,
                    "capture_trigger.sql",
                    trigger=trigger,
                    event=event.name,
                    table=target,
                    referencing=event.referencing,
                    function=handler,
                ),
                table=target,
            )
        )
    return [*functions, *triggers]


def _capture_fields(table: Table) -> dict[str, str]:
    options = audit_options(table)
    excluded = options.exclude if options is not None else frozenset()
    keys = list(table.primary_key.columns)
    # Paired rows have equal keys, so the key columns need no comparing.
    compared = [
        column
        for column in table.columns
        if column_role(column) not in HOUSEKEEPING_ROLES
        and column.computed is None
        and column.name not in excluded
        and not column.primary_key
    ]
    deleted_at = next(
        (column for column in table.columns if column_role(column) is ColumnRole.DELETED_AT),
        None,
    )
    new_missing = f"n.{quote_identifier(keys[0].name)} IS NULL"
    return {
        "table_label": _literal(table_label(table)),
        "new_record_id": _record_id("n", keys),
        "old_record_id": _record_id("o", keys),
        "record_id": _either_record_id(keys, new_missing),
        "new_image": _image("n", excluded),
        "old_image": _image("o", excluded),
        "new_missing": new_missing,
        "old_missing": f"o.{quote_identifier(keys[0].name)} IS NULL",
        "pair": " AND ".join(
            f"o.{quote_identifier(key.name)} = n.{quote_identifier(key.name)}" for key in keys
        ),
        "row_changed": _row_changed(compared),
        "old_values": _old_values(compared),
        "changed_fields": _changed_fields(compared),
        "update_action": _update_action(deleted_at),
    }


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _record_id(row: str, keys: list[Column[Any]]) -> str:
    if len(keys) == 1:
        return f"{row}.{quote_identifier(keys[0].name)}::text"
    values = ", ".join(f"{row}.{quote_identifier(key.name)}" for key in keys)
    return f"jsonb_build_array({values})::text"


def _either_record_id(keys: list[Column[Any]], new_missing: str) -> str:
    # The key of whichever row of a pair exists (both have it when paired).
    if len(keys) == 1:
        key = quote_identifier(keys[0].name)
        return f"coalesce(n.{key}, o.{key})::text"
    return f"CASE WHEN {new_missing} THEN {_record_id('o', keys)} ELSE {_record_id('n', keys)} END"


def _image(row: str, excluded: frozenset[str]) -> str:
    if not excluded:
        return f"to_jsonb({row})"
    names = ", ".join(_literal(name) for name in sorted(excluded))
    return f"(to_jsonb({row}) - ARRAY[{names}])"


def _distinct(column: Column[Any]) -> str:
    return f"{_comparable('n', column)} IS DISTINCT FROM {_comparable('o', column)}"


def _row_changed(columns: list[Column[Any]]) -> str:
    if not columns:
        return "false"
    if len(columns) == 1:
        return _distinct(columns[0])
    new = ", ".join(_comparable("n", column) for column in columns)
    old = ", ".join(_comparable("o", column) for column in columns)
    return f"ROW({new}) IS DISTINCT FROM ROW({old})"


def _old_values(columns: list[Column[Any]]) -> str:
    # jsonb || '{}' returns its other operand as is, so the unchanged columns,
    # usually most of them, cost one comparison each.
    if not columns:
        return "'{}'::jsonb"
    parts = [
        f"CASE WHEN {_distinct(column)} THEN jsonb_build_object("
        f"{_literal(column.name)}, o.{quote_identifier(column.name)}) ELSE '{{}}'::jsonb END"
        for column in columns
    ]
    return "\n            || ".join(parts)


def _changed_fields(columns: list[Column[Any]]) -> str:
    if not columns:
        return "'{}'::text[]"
    parts = [
        f"CASE WHEN {_distinct(column)} THEN {_literal(column.name)} END" for column in columns
    ]
    return "array_remove(ARRAY[" + ", ".join(parts) + "], NULL)"


def _update_action(deleted_at: Column[Any] | None) -> str:
    if deleted_at is None:
        return "'UPDATE'"
    column = quote_identifier(deleted_at.name)
    return (
        f"CASE WHEN o.{column} IS NULL AND n.{column} IS NOT NULL THEN 'SOFT_DELETE' "
        f"WHEN o.{column} IS NOT NULL AND n.{column} IS NULL THEN 'RESTORE' "
        "ELSE 'UPDATE' END"
    )
