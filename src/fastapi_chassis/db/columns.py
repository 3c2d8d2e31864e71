"""Roles that mark the columns the chassis manages on the server.

Each mixin tags its columns with a role in ``Column.info``. Everything that
installs server-side SQL (``create_all`` DDL events, Alembic entities) finds the
columns by role, so it works from a :class:`~sqlalchemy.MetaData` alone, whatever
the column is called in the database.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Column, Table

__all__ = ["HOUSEKEEPING_ROLES", "ColumnRole", "column_role", "column_with_role", "role_info"]

_INFO_KEY = "chassis_role"


class ColumnRole(StrEnum):
    """What a chassis-managed column is for."""

    UUID7_PRIMARY_KEY = "uuid7_primary_key"
    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"
    DELETED_AT = "deleted_at"
    IS_DELETED = "is_deleted"
    VERSION = "version"


HOUSEKEEPING_ROLES = frozenset({ColumnRole.UPDATED_AT, ColumnRole.VERSION, ColumnRole.IS_DELETED})
"""Roles whose changes alone do not count as a change to the row."""


def role_info(role: ColumnRole) -> dict[str, ColumnRole]:
    """Return the ``info`` mapping that marks a column with ``role``."""
    return {_INFO_KEY: role}


def column_role(column: Column[object]) -> ColumnRole | None:
    """Return the role of ``column``, or ``None`` for an application column."""
    role = column.info.get(_INFO_KEY)
    return role if isinstance(role, ColumnRole) else None


def column_with_role(table: Table, role: ColumnRole) -> Column[object] | None:
    """Return the column of ``table`` that has ``role``, if any."""
    for column in table.columns:
        if column_role(column) is role:
            return column
    return None
