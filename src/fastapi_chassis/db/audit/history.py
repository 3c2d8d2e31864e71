"""Reading the audit log: the typed entries and ``audit_history``."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, cast

from pydantic import JsonValue
from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    DateTime,
    MetaData,
    Table,
    Text,
    Uuid,
    func,
    literal,
    select,
)
from sqlalchemy import (
    cast as sql_cast,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from fastapi_chassis.db.audit.tables import audited_table, table_label

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy import Row
    from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["AuditAction", "AuditEntry", "audit_history", "audit_log", "entry_from_row"]


class AuditAction(StrEnum):
    """What an audit row records; compares equal to its name (``"UPDATE"``)."""

    INSERT = "INSERT"
    UPDATE = "UPDATE"
    DELETE = "DELETE"
    SOFT_DELETE = "SOFT_DELETE"
    """``deleted_at`` went from NULL to a time."""
    RESTORE = "RESTORE"
    """``deleted_at`` went back to NULL."""
    TRUNCATE = "TRUNCATE"
    """The whole table was truncated (no record id, no row images)."""
    PAUSE = "PAUSE"
    """A privileged role paused auditing of the table for its transaction."""
    RESUME = "RESUME"
    """Auditing of the table resumed before the end of the pausing transaction."""
    PRUNE = "PRUNE"
    """Monthly partitions of the log were dropped by the retention."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One row of ``audit.log``.

    Attributes:
        id: The row's UUIDv7.
        occurred_at: When the statement that made the change started.
        table_name: The schema-qualified table (``public.products``).
        record_id: The changed row's primary key as text (a JSON array for
            composite keys); ``None`` for table-wide entries (TRUNCATE, PAUSE).
        action: What happened.
        old_data: DELETE: the whole row. UPDATE, SOFT_DELETE, RESTORE: the old
            values of the changed columns only. Otherwise ``None``.
        new_data: INSERT, UPDATE, SOFT_DELETE, RESTORE: the whole row after the
            change (a PAUSE holds its reason). Otherwise ``None``.
        changed_fields: The columns an update changed, housekeeping columns
            (``updated_at``, ``version``, ``is_deleted``) left out.
        actor: Who the application said was acting; asserted by the application.
        correlation_id: The request or job that made the change.
        transaction_id: The PostgreSQL transaction that made the change.
        db_user: The database role that was logged in (``session_user``).
    """

    id: uuid.UUID
    occurred_at: datetime.datetime
    table_name: str
    record_id: str | None
    action: AuditAction
    old_data: dict[str, JsonValue] | None
    new_data: dict[str, JsonValue] | None
    changed_fields: tuple[str, ...]
    actor: str | None
    correlation_id: str | None
    transaction_id: int
    db_user: str


_LOG_METADATA = MetaData()

audit_log = Table(
    "log",
    _LOG_METADATA,
    Column("id", Uuid(as_uuid=True), primary_key=True),
    Column("occurred_at", DateTime(timezone=True), primary_key=True),
    Column("table_name", Text, nullable=False),
    Column("record_id", Text),
    Column("action", Text, nullable=False),
    Column("old_data", JSONB),
    Column("new_data", JSONB),
    Column("changed_fields", ARRAY(Text)),
    Column("actor", Text),
    Column("correlation_id", Text),
    Column("transaction_id", BigInteger, nullable=False),
    Column("db_user", Text, nullable=False),
    schema="audit",
)
"""``audit.log`` for Core queries of your own (it belongs to no application metadata)."""


def _record_key(table: Table, record_id: object) -> ColumnElement[str]:
    # The key is rendered to text by the server, as the trigger renders it, so
    # every key type (uuid, integer, timestamp) matches exactly.
    keys = list(table.primary_key.columns)
    values = record_id if isinstance(record_id, tuple) and len(keys) > 1 else (record_id,)
    if len(values) != len(keys):
        raise ValueError(f"{table.fullname} has a {len(keys)}-column key; got {record_id!r}")
    typed = [literal(value, key.type) for value, key in zip(values, keys, strict=True)]
    if len(typed) == 1:
        return sql_cast(typed[0], Text)
    return sql_cast(func.jsonb_build_array(*typed), Text)


async def audit_history(
    session: AsyncSession,
    model: type[object] | Table,
    record_id: object,
    *,
    limit: int | None = None,
) -> list[AuditEntry]:
    """Return the audit entries of one record, newest first.

    Entries are ordered by time, then by id (ids grow with time, and with the
    order of rows within one statement). The record need not exist any more: a
    deleted record keeps its history.

    Args:
        session: A session on the database (its role needs ``SELECT`` on
            ``audit.log``).
        model: The audited model class, or its ``Table``.
        record_id: The record's primary key; a tuple for a composite key.
        limit: At most this many entries (the newest ones).

    Returns:
        The entries, newest first; empty when the record has none.

    Raises:
        TypeError: If ``model`` is neither a mapped class nor a ``Table``.
        ValueError: If the table is not audited, or ``record_id`` does not fit its key.

    Example:
        >>> entries = await audit_history(session, Product, product.id)
        >>> entries[0].action == "UPDATE"
        True
    """
    table = audited_table(model)
    statement = (
        select(audit_log)
        .where(
            audit_log.c.table_name == table_label(table),
            audit_log.c.record_id == _record_key(table, record_id),
        )
        .order_by(audit_log.c.occurred_at.desc(), audit_log.c.id.desc())
    )
    if limit is not None:
        statement = statement.limit(limit)
    rows = (await session.execute(statement)).all()
    return [entry_from_row(row) for row in rows]


def entry_from_row(row: Row[tuple[object, ...]]) -> AuditEntry:
    """Build an :class:`AuditEntry` from a row selected from :data:`audit_log`."""
    values = row._mapping  # noqa: SLF001 - the documented way to read a Row by name
    fields: Sequence[str] | None = values["changed_fields"]
    return AuditEntry(
        id=values["id"],
        occurred_at=values["occurred_at"],
        table_name=values["table_name"],
        record_id=values["record_id"],
        action=AuditAction(values["action"]),
        old_data=cast("dict[str, JsonValue] | None", values["old_data"]),
        new_data=cast("dict[str, JsonValue] | None", values["new_data"]),
        changed_fields=tuple(fields or ()),
        actor=values["actor"],
        correlation_id=values["correlation_id"],
        transaction_id=values["transaction_id"],
        db_user=values["db_user"],
    )
