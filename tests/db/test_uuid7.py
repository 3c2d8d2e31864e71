from __future__ import annotations

import asyncio
import itertools
import threading
import time
import uuid
from collections.abc import Callable

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from fastapi_chassis.db import uuid7
from fastapi_chassis.db.uuid7 import python_uuid7_generator, uuid7_timestamp_ms

GENERATORS: dict[str, Callable[[], Callable[[], uuid.UUID]]] = {
    "default": lambda: uuid7,
    "python": python_uuid7_generator,
}


@pytest.fixture(params=sorted(GENERATORS))
def generate(request: pytest.FixtureRequest) -> Callable[[], uuid.UUID]:
    return GENERATORS[request.param]()


def test_returns_plain_uuid_with_version_7_and_rfc_variant(
    generate: Callable[[], uuid.UUID],
) -> None:
    value = generate()
    assert type(value) is uuid.UUID
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    # The object must behave like one built by the uuid module.
    assert uuid.UUID(str(value)) == value
    assert hash(uuid.UUID(str(value))) == hash(value)


def test_timestamp_is_the_current_unix_millisecond(generate: Callable[[], uuid.UUID]) -> None:
    before = time.time_ns() // 1_000_000
    value = generate()
    after = time.time_ns() // 1_000_000
    assert before <= uuid7_timestamp_ms(value) <= after + 1


def test_a_million_consecutive_ids_are_strictly_increasing(
    generate: Callable[[], uuid.UUID],
) -> None:
    ids = [generate() for _ in range(1_000_000)]
    out_of_order = sum(1 for earlier, later in itertools.pairwise(ids) if not earlier < later)
    assert out_of_order == 0
    # Far more than one id per millisecond were made, so the counter was exercised.
    assert len({uuid7_timestamp_ms(value) for value in ids}) < len(ids) // 10


def test_ordering_holds_across_a_millisecond_boundary(generate: Callable[[], uuid.UUID]) -> None:
    first = generate()
    while time.time_ns() // 1_000_000 <= uuid7_timestamp_ms(first):
        pass
    second = generate()
    assert uuid7_timestamp_ms(second) > uuid7_timestamp_ms(first)
    assert first < second


def test_threads_never_get_duplicates_and_each_sees_increasing_ids(
    generate: Callable[[], uuid.UUID],
) -> None:
    results: list[list[uuid.UUID]] = [[] for _ in range(8)]
    start = threading.Barrier(len(results))

    def work(bucket: list[uuid.UUID]) -> None:
        start.wait()
        bucket.extend(generate() for _ in range(20_000))

    threads = [threading.Thread(target=work, args=(bucket,)) for bucket in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [value for bucket in results for value in bucket]
    assert len(set(every)) == len(every)
    for bucket in results:
        assert bucket == sorted(bucket)


def test_python_generator_keeps_order_when_the_clock_stands_still_or_steps_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1_700_000_000_000 * 1_000_000]
    monkeypatch.setattr(time, "time_ns", lambda: now[0])
    generate = python_uuid7_generator()
    same_millisecond = [generate() for _ in range(1000)]
    assert same_millisecond == sorted(same_millisecond)
    assert len({uuid7_timestamp_ms(value) for value in same_millisecond}) == 1
    now[0] -= 5_000 * 1_000_000  # NTP steps the clock five seconds back
    after_step = generate()
    assert after_step > same_millisecond[-1]
    assert uuid7_timestamp_ms(after_step) == uuid7_timestamp_ms(same_millisecond[-1])
    now[0] += 10_000 * 1_000_000
    assert uuid7_timestamp_ms(generate()) == now[0] // 1_000_000


def test_timestamp_of_a_non_v7_uuid_is_refused() -> None:
    with pytest.raises(ValueError, match="version 4"):
        uuid7_timestamp_ms(uuid.uuid4())


@pytest.mark.asyncio
async def test_sql_function_makes_version_7_ids(db_session: AsyncSession) -> None:
    values = (
        await db_session.scalars(text("SELECT public.chassis_uuid7() FROM generate_series(1, 200)"))
    ).all()
    assert len(set(values)) == 200
    for value in values:
        assert isinstance(value, uuid.UUID)
        assert value.version == 7
        assert value.variant == uuid.RFC_4122


@pytest.mark.asyncio
async def test_sql_function_uses_the_server_clock(db_session: AsyncSession) -> None:
    before = time.time_ns() // 1_000_000
    value = (await db_session.execute(text("SELECT public.chassis_uuid7()"))).scalar_one()
    after = time.time_ns() // 1_000_000
    # Same machine, so the clocks agree to well within a second.
    assert before - 1000 <= uuid7_timestamp_ms(value) <= after + 1000


@pytest.mark.asyncio
async def test_sql_ids_from_a_later_millisecond_sort_after_python_ids(
    db_session: AsyncSession,
) -> None:
    python_ids = [uuid7() for _ in range(100)]
    await asyncio.sleep(0.002)
    sql_ids = (
        await db_session.scalars(text("SELECT public.chassis_uuid7() FROM generate_series(1, 100)"))
    ).all()
    assert max(python_ids) < min(sql_ids)
    # And the database orders them the same way Python does.
    ordered = (
        await db_session.scalars(
            text("SELECT id FROM unnest(CAST(:ids AS uuid[])) AS id ORDER BY id"),
            {"ids": [*sql_ids, *python_ids]},
        )
    ).all()
    assert ordered == sorted([*sql_ids, *python_ids])


@pytest.mark.asyncio
async def test_sql_function_takes_the_native_path_on_postgresql_18(
    db_session: AsyncSession,
) -> None:
    version = int((await db_session.execute(text("SHOW server_version_num"))).scalar_one())
    if version < 180000:
        # PostgreSQL 14-17 build the id in plpgsql; the native function does not exist.
        exists = (
            await db_session.execute(text("SELECT to_regproc('pg_catalog.uuidv7') IS NOT NULL"))
        ).scalar_one()
        assert exists is False
    else:
        native = (await db_session.execute(text("SELECT uuidv7()"))).scalar_one()
        ours = (await db_session.execute(text("SELECT public.chassis_uuid7()"))).scalar_one()
        assert native.version == ours.version == 7
        assert native < ours
