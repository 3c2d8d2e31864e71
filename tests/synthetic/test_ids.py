"""Deterministic v7 ids: valid, time-ordered, consistent with the event times."""

from __future__ import annotations

import itertools
import uuid

import numpy as np

from fastapi_chassis.db.uuid7 import uuid7_timestamp_ms
from fastapi_chassis.synthetic._ids import SeededUUIDv7, datetimes_from_ms, uuid_hex_from


def _ids(ms: list[int], seed: int, generator: SeededUUIDv7 | None = None) -> list[uuid.UUID]:
    generator = generator or SeededUUIDv7()
    high, low = generator.make(np.array(ms, dtype=np.int64), np.random.default_rng(seed))
    return [uuid.UUID(hex=value) for value in uuid_hex_from(high, low)]


def test_ids_are_v7_with_the_rows_millisecond_and_strictly_increasing() -> None:
    ms = sorted(np.random.default_rng(0).integers(1_700_000_000_000, 1_700_000_000_050, 5_000))
    ids = _ids(ms, 1)
    assert all(value.version == 7 and value.variant == uuid.RFC_4122 for value in ids)
    assert [uuid7_timestamp_ms(value) for value in ids] == ms
    assert all(earlier < later for earlier, later in itertools.pairwise(ids))


def test_the_same_seed_gives_the_same_ids_and_another_seed_others() -> None:
    ms = [1_700_000_000_000 + step for step in range(100)]
    assert _ids(ms, 5) == _ids(ms, 5)
    assert set(_ids(ms, 5)).isdisjoint(_ids(ms, 6))


def test_the_counter_carries_over_between_calls_in_the_same_millisecond() -> None:
    generator = SeededUUIDv7()
    first = _ids([1_700_000_000_000] * 3, 1, generator)
    second = _ids([1_700_000_000_000] * 3, 2, generator)
    assert first + second == sorted(first + second)


def test_datetimes_are_aware_utc_with_millisecond_precision() -> None:
    (moment,) = datetimes_from_ms(np.array([1_732_838_400_123], dtype=np.int64))
    assert moment.isoformat() == "2024-11-29T00:00:00.123000+00:00"
