"""Dead letters: events that failed every attempt, and what an operator can do about them.

An event is dead-lettered when its delivery failed ``max_attempts`` times. It
stays pending, so it keeps blocking the events recorded after it for the same
aggregate (publishing those would deliver the aggregate's history out of
order). It shows in the ``chassis_outbox_dead_letters`` gauge and as a warning in
the readiness report, and waits for one of two decisions:

* **release**: fix the cause (a broker ACL, a topic, a consumer-facing bug),
  then give the event a fresh set of attempts; the relay publishes it and the
  events behind it, in order;
* **skip**: give up on it; it leaves the outbox unpublished (``skipped_at`` is
  set, ``last_error`` kept) and the events behind it flow again.

``chassis events dead-letters list|release|skip`` wraps these functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import TextClause, text

from fastapi_chassis.db.sql_files import load_sql

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["DeadLetter", "list_dead_letters", "release_dead_letters", "skip_dead_letters"]

_SQL = "fastapi_chassis.events.sql"


@cache
def _statement(name: str) -> TextClause:
    return text(load_sql(_SQL, name))


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event that used up its delivery attempts.

    Attributes:
        id: The event id.
        sequence: Its place in the outbox.
        aggregate_type: Its aggregate type.
        aggregate_id: The aggregate it blocks.
        event_type: The event type.
        attempts: Failed attempts.
        dead_at: When the last attempt failed.
        last_error: Why it failed.
        blocked: How many later events of the aggregate wait behind it.
    """

    id: UUID
    sequence: int
    aggregate_type: str
    aggregate_id: UUID
    event_type: str
    attempts: int
    dead_at: datetime
    last_error: str | None
    blocked: int


async def list_dead_letters(session: AsyncSession, *, limit: int = 100) -> list[DeadLetter]:
    """Return the dead letters, oldest first.

    Args:
        session: Where to read.
        limit: At most this many.
    """
    result = await session.execute(_statement("dead_letters_list.sql"), {"limit": limit})
    return [
        DeadLetter(
            id=row.id,
            sequence=row.sequence,
            aggregate_type=row.aggregatetype,
            aggregate_id=row.aggregateid,
            event_type=row.type,
            attempts=row.attempts,
            dead_at=row.dead_at,
            last_error=row.last_error,
            blocked=int(row.blocked),
        )
        for row in result
    ]


async def release_dead_letters(
    session: AsyncSession, ids: Sequence[UUID] = (), *, every: bool = False
) -> list[UUID]:
    """Give dead letters a fresh set of attempts, in the caller's transaction.

    Args:
        session: Where to write (commit it).
        ids: The dead letters to release.
        every: Release every dead letter instead.

    Returns:
        The ids released (ids that are not dead letters are ignored).
    """
    return await _decide(session, "dead_letters_release.sql", ids, every=every)


async def skip_dead_letters(
    session: AsyncSession, ids: Sequence[UUID] = (), *, every: bool = False
) -> list[UUID]:
    """Give up on dead letters: never publish them, unblock their aggregates.

    Args:
        session: Where to write (commit it).
        ids: The dead letters to skip.
        every: Skip every dead letter instead.

    Returns:
        The ids skipped (ids that are not dead letters are ignored).
    """
    return await _decide(session, "dead_letters_skip.sql", ids, every=every)


async def _decide(
    session: AsyncSession, statement: str, ids: Sequence[UUID], *, every: bool
) -> list[UUID]:
    result = await session.execute(_statement(statement), {"ids": list(ids), "every": every})
    return [row.id for row in result]
