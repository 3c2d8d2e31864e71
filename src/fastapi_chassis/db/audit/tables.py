"""Which tables are audited, with what exclusions, and which role owns the audit log.

Everything the audit needs to know about a table is kept in the table's own
``Table.info``, and the owner role in ``MetaData.info``, so the server-side SQL
can be derived from a :class:`~sqlalchemy.MetaData` alone: by ``create_all()``, by
:func:`~fastapi_chassis.db.audit.install_audit`, and by the Alembic entities,
whether or not the ORM classes are imported.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import MetaData, Table, inspect

__all__ = [
    "AUDIT_SCHEMA",
    "DEFAULT_OWNER_ROLE",
    "AuditOptions",
    "audit_options",
    "audit_owner_role",
    "audited_table",
    "audited_tables",
    "configure_audit",
    "enable_audit",
    "table_label",
]

AUDIT_SCHEMA = "audit"
"""The schema that holds ``audit.log``, its partitions and the audit functions."""

DEFAULT_OWNER_ROLE = "chassis_audit"
"""The role that owns the audit schema and the trigger functions, unless configured."""

_TABLE_KEY = "chassis_audit"
_OWNER_KEY = "chassis_audit_owner"
# Role names are written into SQL and migration files: plain identifiers only.
_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


@dataclass(frozen=True, slots=True)
class AuditOptions:
    """How one table is audited.

    Attributes:
        exclude: Database column names kept out of the stored row images and the
            list of changed columns (secrets such as password hashes).
    """

    exclude: frozenset[str] = frozenset()


def enable_audit(table: Table, *, exclude: Iterable[str] = ()) -> Table:
    """Mark ``table`` as audited; the ORM's :class:`~fastapi_chassis.db.AuditMixin` calls it.

    Use it directly for Core tables. Marking a table again replaces its options.

    Args:
        table: The table to audit. It needs a primary key: audit rows name the
            changed record by it, and an UPDATE's old and new rows are paired by it.
        exclude: Column names (database names) whose values must never reach the
            audit log.

    Returns:
        The table, for chaining.

    Raises:
        ValueError: If the table has no primary key, or ``exclude`` names a column
            the table does not have or one of its primary key columns.

    Example:
        >>> from sqlalchemy import Column, Integer, MetaData, Table, Text
        >>> users = Table(
        ...     "users", MetaData(),
        ...     Column("id", Integer, primary_key=True), Column("password_hash", Text),
        ... )
        >>> enable_audit(users, exclude={"password_hash"}).info["chassis_audit"]
        {'exclude': ['password_hash']}
    """
    excluded = frozenset(exclude)
    if not table.primary_key.columns:
        raise ValueError(f"table {table.fullname} has no primary key and cannot be audited")
    unknown = excluded - {column.name for column in table.columns}
    if unknown:
        raise ValueError(f"cannot exclude {sorted(unknown)} from the audit of {table.fullname}")
    keys = excluded & {column.name for column in table.primary_key.columns}
    if keys:
        raise ValueError(f"the primary key of {table.fullname} cannot be excluded: {sorted(keys)}")
    # Plain values: Alembic writes Table.info into the create_table() it generates.
    table.info[_TABLE_KEY] = {"exclude": sorted(excluded)}
    # Imported here: installation needs this module, and the listeners need the table.
    from fastapi_chassis.db.audit.install import install_on_create  # noqa: PLC0415
    from fastapi_chassis.db.audit.propagation import enable_propagation  # noqa: PLC0415

    install_on_create(table)
    enable_propagation()
    return table


def audit_options(table: Table) -> AuditOptions | None:
    """Return how ``table`` is audited, or ``None`` when it is not."""
    options = table.info.get(_TABLE_KEY)
    if not isinstance(options, dict):
        return None
    return AuditOptions(frozenset(options.get("exclude", ())))


def audited_table(model: type[object] | Table) -> Table:
    """Return the audited table of a mapped class (or the table itself).

    Raises:
        TypeError: If ``model`` is neither a mapped class nor a ``Table``.
        ValueError: If its table is not audited.
    """
    table = (
        model
        if isinstance(model, Table)
        else getattr(inspect(model, raiseerr=False), "local_table", None)
    )
    if not isinstance(table, Table):
        raise TypeError(f"{model!r} is not a mapped class or a Table")
    if audit_options(table) is None:
        raise ValueError(f"{table.fullname} is not audited")
    return table


def audited_tables(metadata: MetaData) -> list[Table]:
    """Return the audited tables of ``metadata`` in dependency order."""
    return [table for table in metadata.sorted_tables if audit_options(table) is not None]


def configure_audit(metadata: MetaData, *, owner_role: str = DEFAULT_OWNER_ROLE) -> None:
    """Choose the role that owns the audit log and runs the audit triggers.

    The role is cluster-wide; the installation creates it when it is missing and
    the installing role may create roles. Configure it before ``create_all()``,
    ``install_audit()`` or autogenerate run.

    Args:
        metadata: The application's metadata (``Base.metadata``).
        owner_role: A plain lower-case identifier.

    Raises:
        ValueError: If ``owner_role`` is not a plain identifier.
    """
    if _ROLE_NAME.fullmatch(owner_role) is None:
        raise ValueError(f"the audit owner role must be a plain identifier, not {owner_role!r}")
    metadata.info[_OWNER_KEY] = owner_role


def audit_owner_role(metadata: MetaData) -> str:
    """Return the audit owner role configured for ``metadata`` (default ``chassis_audit``)."""
    role = metadata.info.get(_OWNER_KEY, DEFAULT_OWNER_ROLE)
    return role if isinstance(role, str) else DEFAULT_OWNER_ROLE


def table_label(table: Table) -> str:
    """Return the schema-qualified name audit rows give ``table`` (``public.products``)."""
    return f"{table.schema or 'public'}.{table.name}"
