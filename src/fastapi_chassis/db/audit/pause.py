"""Pausing the audit for a deliberate backfill.

A backfill that rewrites millions of rows would flood the log with changes
nobody asked for. A role allowed to execute ``audit.pause_auditing`` (the audit
owner and the roles it is granted to; never the application role) can stop the
audit of named tables for the rest of its transaction. The pause is not a
setting any session may change: it is a row only that function writes, and the
pause and the resume are themselves recorded in the log, with the reason and
the database role.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from sqlalchemy import text

from fastapi_chassis.db.audit.tables import audited_table
from fastapi_chassis.db.sql_files import qualified_name

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.engine import Connection
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
    from sqlalchemy.orm import Session

__all__ = ["audit_paused", "pause_auditing", "resume_auditing"]

_PAUSE = text("SELECT audit.pause_auditing(CAST(CAST(:tables AS text[]) AS regclass[]), :reason)")
_RESUME = text("SELECT audit.resume_auditing(CAST(CAST(:tables AS text[]) AS regclass[]))")


def _names(models: Iterable[type[object] | Table]) -> list[str]:
    tables = [audited_table(model) for model in models]
    if not tables:
        raise ValueError("name at least one audited model or table")
    return [qualified_name(table.schema, table.name) for table in tables]


def pause_auditing(
    connection: Connection | Session, *models: type[object] | Table, reason: str
) -> None:
    """Stop auditing the tables of ``models`` until the current transaction ends.

    Args:
        connection: A connection or session of a role allowed to pause.
        *models: Audited model classes or tables.
        reason: Why; recorded with the pause.

    Raises:
        ValueError: If no model is given or one is not audited.
        sqlalchemy.exc.ProgrammingError: If the role may not pause (permission
            denied) or the reason is blank.
    """
    names = _names(models)
    connection.execute(_PAUSE, {"tables": names, "reason": reason})


def resume_auditing(connection: Connection | Session, *models: type[object] | Table) -> None:
    """Audit the tables of ``models`` again before the pausing transaction ends."""
    names = _names(models)
    connection.execute(_RESUME, {"tables": names})


@asynccontextmanager
async def audit_paused(
    connection: AsyncConnection | AsyncSession, *models: type[object] | Table, reason: str
) -> AsyncIterator[None]:
    """Run a block with the audit of ``models`` paused, inside the current transaction.

    Auditing resumes when the block ends normally; if the block raises, the pause
    ends with the transaction (which the error usually rolls back). Committing
    inside the block ends the pause too.

    Args:
        connection: An async connection or session of a role allowed to pause.
        *models: Audited model classes or tables.
        reason: Why; recorded with the pause.

    Yields:
        Nothing; run the backfill in the block.

    Example:
        >>> async with engine.begin() as connection:
        ...     async with audit_paused(connection, Product, reason="recompute prices"):
        ...         await connection.execute(update(Product).values(price=Product.price * 2))
    """
    names = _names(models)
    await connection.execute(_PAUSE, {"tables": names, "reason": reason})
    yield
    await connection.execute(_RESUME, {"tables": names})
