"""The relay's side of the database: claim outbox rows under a lease, then settle the claim.

Each function runs one short transaction of its own and commits it. Nothing
here holds a transaction open while a broker is waited for: a claim is
committed before publishing starts (the lease is what keeps other relays away),
and the outcome is written in a second transaction afterwards. A transaction
left open across broker round trips would hold row locks that block other
relays and keep vacuum from cleaning up the outbox.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from sqlalchemy import Row, TextClause, text

from fastapi_chassis.db.sql_files import load_sql
from fastapi_chassis.events.publishers.base import OutboxMessage

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

__all__ = [
    "NO_BOUND",
    "Claim",
    "ClaimOutcome",
    "OutboxStats",
    "claim",
    "outbox_stats",
    "pending_bound",
    "settle",
]

_SQL = "fastapi_chassis.events.sql"
NO_BOUND = 2**63 - 1
"""A claim bound above every sequence number (used by the long-running relay)."""


@cache
def _statement(name: str) -> TextClause:
    return text(load_sql(_SQL, name))


@dataclass(frozen=True, slots=True)
class Claim:
    """Rows one relay may publish until its lease runs out.

    Attributes:
        token: Identifies the claim; settling is conditional on it.
        messages: The claimed rows, in sequence order.
        window_end: The last sequence number the claim looked at (0 if none).
        window_full: Whether the claim looked at ``scan_limit`` rows, so that
            pending rows may lie beyond ``window_end``.
    """

    token: UUID
    messages: tuple[OutboxMessage, ...]
    window_end: int = 0
    window_full: bool = False


@dataclass(frozen=True, slots=True)
class ClaimOutcome:
    """What became of a claim's rows.

    Attributes:
        published: Rows every publisher acknowledged.
        failed: Rows that failed, each with the error and the back-off before
            the next attempt, in seconds.
        released: Rows not attempted, handed back without counting an attempt.
    """

    published: tuple[OutboxMessage, ...] = ()
    failed: tuple[tuple[OutboxMessage, str, float], ...] = ()
    released: tuple[OutboxMessage, ...] = ()


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """The state of the outbox.

    Attributes:
        pending: Events not yet published (dead letters included).
        dead_letters: Events that used up their attempts.
        lag_seconds: Age of the oldest pending event; 0 when none is pending.
    """

    pending: int
    dead_letters: int
    lag_seconds: float


async def pending_bound(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    """Return the newest pending sequence number (0 when nothing is pending)."""
    async with sessionmaker() as session:
        bound = await session.scalar(_statement("pending_bound.sql"))
        await session.commit()
    return int(bound or 0)


async def claim(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    batch_size: int,
    lease_seconds: float,
    after: int = 0,
    bound: int = NO_BOUND,
    scan_limit: int | None = None,
) -> Claim:
    """Claim up to ``batch_size`` rows in whole aggregate runs, and commit the lease.

    The claim reads a window of pending rows, locks the heads of the runs it
    finds there (``FOR UPDATE SKIP LOCKED``), and leases each locked head with
    the rows that follow it in the window: an equal share of the batch per
    aggregate, taken column by column (every aggregate's first row, then every
    second row...). Each statement is a plain index lookup, so a plan does not
    depend on statistics, which a queue table's are seldom up to date.

    Args:
        sessionmaker: Makes the session the claim runs in.
        batch_size: At most this many rows, and this many aggregates.
        lease_seconds: How long the claim keeps other relays away.
        after: Look at pending rows with a higher sequence only.
        bound: Claim no row with a higher sequence.
        scan_limit: How many pending rows to look at (two batches by default).

    Returns:
        The claim; its ``messages`` are empty when nothing in the window was
        claimable.
    """
    token = uuid4()
    limit = scan_limit or 2 * batch_size
    async with sessionmaker() as session:
        window = (
            await session.execute(
                _statement("claim_window.sql"),
                {"after": after, "bound": bound, "scan_limit": limit},
            )
        ).all()
        runs = _runs(window)
        candidates = [run[0] for run in runs.values() if run[0][1]]
        rows: list[Row[Any]] = []
        if candidates:
            locked = (
                (
                    await session.execute(
                        _statement("claim_heads.sql"),
                        {
                            "candidates": [head_id for head_id, _ in candidates],
                            "after": after,
                            "batch_size": batch_size,
                        },
                    )
                )
                .scalars()
                .all()
            )
            if locked:
                ids = _claimed_ids(runs, set(locked), batch_size)
                rows = list(
                    await session.execute(
                        _statement("claim_rows.sql"),
                        {"ids": ids, "token": token, "lease_seconds": float(lease_seconds)},
                    )
                )
        await session.commit()
    messages = sorted(
        (
            OutboxMessage(
                id=row.id,
                sequence=row.sequence,
                aggregate_type=row.aggregatetype,
                aggregate_id=row.aggregateid,
                event_type=row.type,
                payload=row.payload.encode(),
                attempts=row.attempts,
                created_at=row.created_at,
            )
            for row in rows
        ),
        key=lambda message: message.sequence,
    )
    return Claim(
        token,
        tuple(messages),
        window_end=window[-1].sequence if window else 0,
        window_full=len(window) >= limit,
    )


def _runs(window: Sequence[Row[Any]]) -> dict[str, list[tuple[UUID, bool]]]:
    """Group a window's rows by aggregate, each group in sequence order."""
    # Keyed by text: hashing the driver's UUID objects is several times slower.
    runs: dict[str, list[tuple[UUID, bool]]] = {}
    for row in window:
        runs.setdefault(row.aggregate_key, []).append((row.id, row.free))
    return runs


def _claimed_ids(
    runs: dict[str, list[tuple[UUID, bool]]], heads: set[UUID], batch_size: int
) -> list[UUID]:
    """Take the runs of the locked heads, an equal share each, column by column."""
    chosen = [run for run in runs.values() if run[0][0] in heads]
    share = -(-batch_size // len(chosen))
    ids: list[UUID] = []
    for position in range(share):
        for run in chosen:
            if position < len(run):
                ids.append(run[position][0])
                if len(ids) == batch_size:
                    return ids
    return ids


async def settle(
    sessionmaker: async_sessionmaker[AsyncSession],
    claim: Claim,
    outcome: ClaimOutcome,
    *,
    max_attempts: int,
) -> list[OutboxMessage]:
    """Write a claim's outcome in one transaction.

    Args:
        sessionmaker: Makes the session.
        claim: The claim being settled.
        outcome: What became of its rows.
        max_attempts: A row whose failed attempts reach this is dead-lettered.

    Returns:
        The rows that were dead-lettered by this outcome.
    """
    dead: list[OutboxMessage] = []
    async with sessionmaker() as session:
        if outcome.published:
            await session.execute(
                _statement("mark_published.sql"),
                {"ids": [message.id for message in outcome.published]},
            )
        if outcome.failed:
            result = await session.execute(
                _statement("record_failures.sql"),
                {
                    "ids": [message.id for message, _, _ in outcome.failed],
                    "errors": [error for _, error, _ in outcome.failed],
                    "delays": [float(delay) for _, _, delay in outcome.failed],
                    "max_attempts": max_attempts,
                    "token": claim.token,
                },
            )
            dead_ids = {row.id for row in result if row.dead}
            dead = [message for message, _, _ in outcome.failed if message.id in dead_ids]
        if outcome.released:
            await session.execute(
                _statement("release_claim.sql"),
                {"ids": [message.id for message in outcome.released], "token": claim.token},
            )
        await session.commit()
    return dead


async def outbox_stats(session: AsyncSession) -> OutboxStats:
    """Count pending events and dead letters, and measure the lag, in ``session``."""
    row = (await session.execute(_statement("outbox_stats.sql"))).one()
    return OutboxStats(int(row.pending), int(row.dead_letters), float(row.lag_seconds))
