"""Time-ordered UUIDs (RFC 9562 version 7), strictly monotonic within a process.

A v7 id starts with the Unix time in milliseconds, so ids made later sort later and
B-tree inserts stay at the right edge of the index. Inside one millisecond the RFC
leaves ordering to the implementation; this module guarantees it: every id is
greater than the previous one made by this process, in any thread.

The work is done by `uuid_utils` (a Rust extension) when it is importable: it is
faster than :func:`uuid.uuid4` and keeps a monotonic counter in the random bits
(RFC 9562, section 6.2, method 1). Where it is not available, a pure-Python
generator with the same guarantees takes over. Both return plain
:class:`uuid.UUID` objects.

The SQL function ``chassis_uuid7()`` installed by the mixins makes v7 ids inside
PostgreSQL. Ids from the two generators compare by their millisecond timestamp;
within the same millisecond their order is not defined.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from uuid import UUID, SafeUUID

__all__ = ["python_uuid7_generator", "uuid7", "uuid7_timestamp_ms"]


def python_uuid7_generator() -> Callable[[], UUID]:
    """Return a pure-Python v7 generator with its own state.

    It follows RFC 9562 section 6.2, method 1, with a 42-bit counter (the 12 bits
    of ``rand_a`` and the top 30 bits of ``rand_b``) and 32 random bits below it.
    The counter is seeded from ``os.urandom`` at each new millisecond with its top
    bit clear, which leaves at least 2**41 increments before the millisecond runs
    out; should it run out, the timestamp moves one millisecond ahead, as the RFC
    allows. A clock that steps backwards is treated the same way, so the sequence
    never goes back. A lock makes it safe to share between threads.

    This is the fallback used when the native ``uuid_utils`` wheel is missing; it
    is public so its guarantees can be tested and benchmarked on any machine.
    """
    lock = threading.Lock()
    state = [0, 0]  # [last unix ms, counter]
    urandom = os.urandom
    time_ns = time.time_ns
    from_bytes = int.from_bytes
    new_object = object.__new__
    set_slot = object.__setattr__
    unknown = SafeUUID.unknown

    def generate() -> UUID:
        random_bits = from_bytes(urandom(10))
        with lock:
            now_ms = time_ns() // 1_000_000
            if now_ms > state[0]:
                state[0] = now_ms
                counter = state[1] = random_bits >> 39
            else:
                counter = state[1] = state[1] + 1
                # 2**41 ids in one millisecond cannot happen in Python; the branch
                # keeps the id valid should the clock stall for that long.
                if counter == 1 << 42:  # pragma: no cover
                    state[0] += 1
                    counter = state[1] = 0
            unix_ms = state[0]
        value = (
            unix_ms << 80
            | 0x7 << 76  # version
            | (counter >> 30) << 64
            | 0b10 << 62  # RFC variant
            | (counter & 0x3FFF_FFFF) << 32
            | random_bits & 0xFFFF_FFFF
        )
        # UUID(int=...) validates its argument on every call; the value is built
        # from fixed-width fields, so the object is assembled directly (3x faster).
        result: UUID = new_object(UUID)
        set_slot(result, "int", value)
        set_slot(result, "is_safe", unknown)
        return result

    return generate


def _select_generator() -> Callable[[], UUID]:
    try:
        from uuid_utils.compat import uuid7 as native_uuid7  # noqa: PLC0415
    except ImportError:  # pragma: no cover - exercised where the wheel is missing
        return python_uuid7_generator()
    return native_uuid7


_generate = _select_generator()


def uuid7() -> UUID:
    """Return a new RFC 9562 version 7 UUID.

    Ids are strictly increasing within the process, also across threads and when
    many are made in the same millisecond.

    Returns:
        A plain :class:`uuid.UUID` with version 7 and the RFC variant.

    Example:
        >>> a, b = uuid7(), uuid7()
        >>> a < b and a.version == 7
        True
    """
    return _generate()


def uuid7_timestamp_ms(value: UUID) -> int:
    """Return the Unix time in milliseconds stored in a version 7 UUID.

    Args:
        value: A version 7 UUID.

    Raises:
        ValueError: If ``value`` is not a version 7 UUID.
    """
    if value.version != 7:  # noqa: PLR2004
        raise ValueError(f"{value} is a version {value.version} UUID, not version 7")
    return value.int >> 80
