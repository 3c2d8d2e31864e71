"""Monthly partitions of ``audit.log``: creating them ahead, and retention.

``audit.log`` is partitioned by month (UTC) of ``occurred_at``. A DEFAULT partition
takes whatever has no monthly partition, so no write ever fails; creating
partitions ahead keeps it empty, and :func:`create_partitions` moves rows that
did land there into their month. Retention drops whole monthly partitions
(:func:`drop_partitions`): cheap, and no row-by-row ``DELETE`` bloats the log.

Both call SQL functions (``audit.create_partitions``, ``audit.drop_partitions``)
that only the audit owner role and its members may execute. Run them from a
scheduled job or the ``chassis audit`` commands; ``pg_cron`` works too::

    SELECT cron.schedule('audit-partitions', '0 3 * * *',
                         'SELECT audit.create_partitions(3)');
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import text

if TYPE_CHECKING:
    import datetime

    from sqlalchemy.engine import Connection

__all__ = ["PartitionInfo", "create_partitions", "drop_partitions", "list_partitions", "parse_age"]

# "m" alone would be ambiguous (minutes or months), so months need "mo".
_UNITS = {
    **dict.fromkeys(("d", "day", "days"), "days"),
    **dict.fromkeys(("w", "week", "weeks"), "weeks"),
    **dict.fromkeys(("mo", "month", "months"), "months"),
    **dict.fromkeys(("y", "year", "years"), "years"),
}
_AGE = re.compile(r"(?P<count>\d+)\s*(?P<unit>[a-z]+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class PartitionInfo:
    """One partition of ``audit.log``.

    Attributes:
        name: The partition table's name (``log_p202611``, ``log_default``).
        lower: Its first instant, ``None`` for the DEFAULT partition.
        upper: The first instant after it, ``None`` for the DEFAULT partition.
        rows: The planner's estimate of its row count (exact after ``ANALYZE``).
    """

    name: str
    lower: datetime.datetime | None
    upper: datetime.datetime | None
    rows: int


def parse_age(age: str) -> str:
    """Turn an age such as ``400d``, ``8w``, ``13mo`` or ``2y`` into a PostgreSQL interval.

    Args:
        age: A whole number and a unit: ``d`` (days), ``w`` (weeks), ``mo``
            (months) or ``y`` (years); the long forms (``days``) are accepted.

    Returns:
        The interval as text, such as ``"400 days"``.

    Raises:
        ValueError: If ``age`` is not of that form.

    Example:
        >>> parse_age("400d")
        '400 days'
    """
    match = _AGE.fullmatch(age.strip())
    unit = _UNITS.get(match["unit"].lower()) if match is not None else None
    if match is None or unit is None:
        raise ValueError(f"expected an age such as 400d, 8w, 13mo or 2y, not {age!r}")
    return f"{int(match['count'])} {unit}"


def create_partitions(connection: Connection, months_ahead: int = 3) -> list[str]:
    """Create the monthly partitions from this month to ``months_ahead`` months ahead.

    Also creates a partition for every month that has rows in the DEFAULT partition
    and moves them into it. Existing partitions are left alone.

    Args:
        connection: A connection of a role allowed to run ``audit.create_partitions``.
        months_ahead: How many months beyond the current one (0 to 120).

    Returns:
        The names of the partitions created, oldest first.
    """
    result = connection.execute(
        text("SELECT audit.create_partitions(:months_ahead)"), {"months_ahead": months_ahead}
    )
    return list(result.scalars())


def drop_partitions(connection: Connection, older_than: str) -> list[str]:
    """Drop every monthly partition whose whole month ended more than ``older_than`` ago.

    The drop is recorded in the log (a ``PRUNE`` entry listing the partitions).

    Args:
        connection: A connection of a role allowed to run ``audit.drop_partitions``.
        older_than: An age such as ``"400d"`` (see :func:`parse_age`) or a
            PostgreSQL interval such as ``"400 days"``; at least one day.

    Returns:
        The names of the partitions dropped, oldest first.
    """
    try:
        interval = parse_age(older_than)
    except ValueError:
        interval = older_than  # already an interval, such as "400 days 12:00"
    result = connection.execute(
        text("SELECT audit.drop_partitions(CAST(CAST(:older_than AS text) AS interval))"),
        {"older_than": interval},
    )
    return list(result.scalars())


def list_partitions(connection: Connection) -> list[PartitionInfo]:
    """Return the partitions of ``audit.log``, oldest first and DEFAULT last."""
    rows = connection.execute(
        text(
            """
            SELECT c.relname AS name,
                CASE WHEN c.relname <> 'log_default' THEN
                    to_date(substr(c.relname, 6), 'YYYYMM')::timestamp AT TIME ZONE 'UTC'
                END AS lower,
                CASE WHEN c.relname <> 'log_default' THEN
                    (to_date(substr(c.relname, 6), 'YYYYMM') + interval '1 month')
                    AT TIME ZONE 'UTC'
                END AS upper,
                greatest(c.reltuples, 0)::bigint AS rows
            FROM pg_inherits AS i
            JOIN pg_class AS c ON c.oid = i.inhrelid
            WHERE i.inhparent = to_regclass('audit.log')
            ORDER BY c.relname = 'log_default', c.relname
            """
        )
    )
    return [PartitionInfo(row.name, row.lower, row.upper, row.rows) for row in rows]
