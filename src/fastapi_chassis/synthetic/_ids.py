"""Deterministic UUIDv7 ids and timestamps for generated rows.

A generated id must be repeatable (same seed, same id) and still a valid,
time-ordered v7 id whose timestamp is the row's ``created_at``. So the 48-bit
millisecond field holds the row's event time, the 42 bits below it hold a
counter that keeps ids made in the same millisecond in generation order (RFC 9562
section 6.2, method 1, as :func:`fastapi_chassis.db.uuid7` does), and the last 32
bits come from the scenario's seeded random source. The counter of each new
millisecond starts at a random value below 2**40, which leaves room for 2**41
ids in that millisecond.
"""

from __future__ import annotations

import datetime
from uuid import UUID

import numpy as np
import numpy.typing as npt

__all__ = ["SeededUUIDv7", "as_uuid", "datetimes_from_ms", "uuid_hex_from"]

_U64 = np.uint64
_COUNTER_START_BITS = 40
_VERSION_HIGH = np.uint64(0x7 << 12)
_VARIANT_LOW = np.uint64(0b10 << 62)
_LOW_30 = np.uint64((1 << 30) - 1)
_LOW_12 = np.uint64((1 << 12) - 1)

Int64Array = npt.NDArray[np.int64]
UInt64Array = npt.NDArray[np.uint64]


class SeededUUIDv7:
    """Makes v7 ids for one table from event times, with a counter kept across calls.

    Rows must be given in time order within a call; across calls the counter
    continues when a call starts in the millisecond the previous one ended in.
    """

    __slots__ = ("_last_counter", "_last_ms")

    def __init__(self) -> None:
        self._last_ms = -1
        self._last_counter = 0

    def make(self, ms: Int64Array, rng: np.random.Generator) -> tuple[UInt64Array, UInt64Array]:
        """Return the high and low 64 bits of one id per millisecond timestamp."""
        size = len(ms)
        if size == 0:
            empty = np.zeros(0, dtype=_U64)
            return empty, empty
        starts = rng.integers(0, 1 << _COUNTER_START_BITS, size=size, dtype=np.int64)
        low_bits = rng.integers(0, 1 << 32, size=size, dtype=np.uint64)
        new_group = np.empty(size, dtype=bool)
        new_group[0] = True
        np.not_equal(ms[1:], ms[:-1], out=new_group[1:])
        group_first = np.flatnonzero(new_group)
        group_of_row = np.cumsum(new_group) - 1
        base = starts[group_first]
        if ms[0] == self._last_ms:
            base[0] = self._last_counter + 1
        rank = np.arange(size, dtype=np.int64) - group_first[group_of_row]
        counter = (base[group_of_row] + rank).astype(_U64)
        self._last_ms = int(ms[-1])
        self._last_counter = int(counter[-1])
        high = (
            (ms.astype(_U64) << np.uint64(16))
            | _VERSION_HIGH
            | ((counter >> np.uint64(30)) & _LOW_12)
        )
        low = _VARIANT_LOW | ((counter & _LOW_30) << np.uint64(32)) | low_bits
        return high, low


_BIG_ENDIAN = np.dtype(">u8")


def uuid_hex_from(high: UInt64Array, low: UInt64Array) -> list[str]:
    """Return the ids as 32-digit hex strings, the cheapest form asyncpg's COPY accepts.

    Building :class:`uuid.UUID` objects costs four times as much, and most ids
    are only ever written; code that reads an id gets a UUID (see
    :func:`as_uuid`).
    """
    halves = np.empty((len(high), 2), dtype=_BIG_ENDIAN)
    halves[:, 0] = high
    halves[:, 1] = low
    digits = halves.tobytes().hex()
    return [digits[start : start + 32] for start in range(0, len(digits), 32)]


def as_uuid(value: object) -> object:
    """Return a generated id (hex string) as a :class:`uuid.UUID`; other values unchanged."""
    if isinstance(value, str) and len(value) == 32:  # noqa: PLR2004 - 32 hex digits
        return UUID(hex=value)
    return value


def datetimes_from_ms(ms: Int64Array) -> list[datetime.datetime]:
    """Return timezone-aware UTC datetimes for Unix times in milliseconds."""
    utc = datetime.UTC
    from_timestamp = datetime.datetime.fromtimestamp
    # A millisecond count divided by 1000 is exact to well below a microsecond
    # for any date a scenario can name, and fromtimestamp rounds to microseconds.
    return [from_timestamp(value / 1000, utc) for value in ms.tolist()]
