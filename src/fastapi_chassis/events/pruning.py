"""Deleting old outbox rows, so the table holds recent history only.

Published rows are kept for ``events_retention_days`` (for investigations and
replays), then ``chassis events prune`` (or :func:`prune_outbox`, from a
scheduled job) deletes them in batches of short transactions. Pending rows and
dead letters are never pruned, except with ``unpublished=True``, for outboxes
that a CDC pipeline reads: nothing marks their rows published, and the change
stream captured each row when it was committed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import TextClause, text

from fastapi_chassis.db.sql_files import load_sql

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

__all__ = ["prune_outbox"]

_SQL = "fastapi_chassis.events.sql"


@cache
def _statement() -> TextClause:
    return text(load_sql(_SQL, "prune.sql"))


def _first_uuid7_at(moment: datetime) -> UUID:
    # The smallest UUID whose 48-bit millisecond prefix is ``moment``: every v7 id
    # made earlier sorts below it.
    return UUID(int=int(moment.timestamp() * 1000) << 80)


async def prune_outbox(
    sessionmaker: async_sessionmaker[AsyncSession],
    older_than: timedelta,
    *,
    unpublished: bool = False,
    batch_size: int = 10_000,
) -> int:
    """Delete outbox rows published (or skipped) longer than ``older_than`` ago.

    Each batch is its own transaction, so pruning a large backlog holds no long
    locks and leaves room for vacuum.

    Args:
        sessionmaker: Makes the sessions.
        older_than: The retention period.
        unpublished: Also delete rows created that long ago that were never marked
            published (only for outboxes read by CDC instead of the relay).
        batch_size: Rows per transaction.

    Returns:
        How many rows were deleted.
    """
    cutoff = datetime.now(UTC) - older_than
    parameters = {
        "before_id": _first_uuid7_at(cutoff),
        "cutoff": cutoff,
        "unpublished": unpublished,
        "batch_size": batch_size,
    }
    deleted = 0
    while True:
        async with sessionmaker() as session:
            result = await session.execute(_statement(), parameters)
            await session.commit()
        count = int(result.rowcount or 0)  # type: ignore[attr-defined]
        deleted += count
        if count < batch_size:
            return deleted
