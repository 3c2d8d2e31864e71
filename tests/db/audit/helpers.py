"""Reading the audit log in tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from fastapi_chassis.db.audit import AuditEntry, audit_log
from fastapi_chassis.db.audit.history import entry_from_row


async def log_entries(
    executor: AsyncSession | AsyncConnection, *, table: str | None = None, **filters: Any
) -> list[AuditEntry]:
    """The log's rows, oldest first, optionally for one table and matching column values."""
    statement = select(audit_log).order_by(audit_log.c.occurred_at, audit_log.c.id)
    if table is not None:
        statement = statement.where(audit_log.c.table_name == table)
    for name, value in filters.items():
        statement = statement.where(audit_log.c[name] == value)
    return [entry_from_row(row) for row in (await executor.execute(statement)).all()]


async def transaction_id(executor: AsyncSession | AsyncConnection) -> int:
    value = (await executor.execute(text("SELECT pg_current_xact_id()::text::bigint"))).scalar()
    assert isinstance(value, int)
    return value


async def current_user(executor: AsyncSession | AsyncConnection) -> str:
    value = (await executor.execute(text("SELECT session_user"))).scalar()
    assert isinstance(value, str)
    return value
