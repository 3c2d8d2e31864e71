"""Putting a database back as it was made, after a test that committed for real."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from fastapi_chassis.testing import committed
from fastapi_chassis.testing.committed import DatabaseBaseline, read_baseline, restore_baseline
from fastapi_chassis.testing.postgres import with_database

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

# Seed rows in a referenced table and in one that references it, an identity
# column, a generated column, a table without rows, and a trigger that writes to
# another table (as the audit does) on every change.
SCHEMA = """
CREATE TABLE regions (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL,
    upper_name text GENERATED ALWAYS AS (upper(name)) STORED
);
CREATE TABLE "Countries" (
    code text PRIMARY KEY,
    region_id bigint NOT NULL REFERENCES regions (id)
);
CREATE TABLE notes (id serial PRIMARY KEY, body text);
CREATE SCHEMA history;
CREATE TABLE history.changes (id serial PRIMARY KEY, what text);
CREATE FUNCTION note_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO history.changes (what) VALUES (TG_OP || ' ' || TG_TABLE_NAME);
    RETURN NULL;
END $$;
CREATE TRIGGER note_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON notes
    FOR EACH STATEMENT EXECUTE FUNCTION note_change();
CREATE TRIGGER note_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON regions
    FOR EACH STATEMENT EXECUTE FUNCTION note_change();
INSERT INTO regions (name) VALUES ('north'), ('south');
INSERT INTO "Countries" (code, region_id) VALUES ('NO', 1), ('ZA', 2);
TRUNCATE history.changes;
"""

CONTENTS = """
SELECT json_build_object(
    'regions', (SELECT json_agg(r ORDER BY r.id) FROM regions r),
    'countries', (SELECT json_agg(c ORDER BY c.code) FROM "Countries" c),
    'notes', (SELECT count(*) FROM notes),
    'changes', (SELECT count(*) FROM history.changes)
)::text
"""


@pytest_asyncio.fixture
async def seeded(server_url: str) -> AsyncIterator[AsyncEngine]:
    with with_database(server_url, prefix="chassis_committed") as url:
        engine = create_async_engine(url, poolclass=NullPool)
        try:
            async with engine.begin() as connection:
                raw = await connection.get_raw_connection()
                # asyncpg runs a script of several statements only unprepared.
                await raw.driver_connection.execute(SCHEMA)  # type: ignore[union-attr]
            yield engine
        finally:
            await engine.dispose()


async def contents(engine: AsyncEngine) -> str:
    async with engine.connect() as connection:
        value = await connection.scalar(text(CONTENTS))
        return str(value)


async def baseline_of(engine: AsyncEngine) -> DatabaseBaseline:
    async with engine.connect() as connection:
        return await read_baseline(connection)


@pytest.mark.asyncio
async def test_the_baseline_lists_every_table_and_the_seeded_ones_in_reference_order(
    seeded: AsyncEngine,
) -> None:
    baseline = await baseline_of(seeded)

    assert set(baseline.tables) == {
        'public."Countries"',
        "public.regions",
        "public.notes",
        "history.changes",
    }
    assert [seed.name for seed in baseline.seeds] == ["public.regions", 'public."Countries"']
    assert baseline.seeds[0].columns == ("id", "name")


@pytest.mark.asyncio
async def test_an_untouched_database_needs_nothing(seeded: AsyncEngine) -> None:
    baseline = await baseline_of(seeded)

    assert await restore_baseline(seeded, baseline) == []


@pytest.mark.asyncio
async def test_new_rows_go_and_changed_seed_rows_come_back(seeded: AsyncEngine) -> None:
    baseline = await baseline_of(seeded)
    before = await contents(seeded)
    async with seeded.begin() as connection:
        await connection.exec_driver_sql("INSERT INTO notes (body) VALUES ('a'), ('b')")
        await connection.exec_driver_sql("UPDATE regions SET name = 'east' WHERE id = 1")
        await connection.exec_driver_sql("""DELETE FROM "Countries" WHERE code = 'ZA'""")
        await connection.exec_driver_sql("INSERT INTO regions (name) VALUES ('west')")

    touched = await restore_baseline(seeded, baseline)

    assert await contents(seeded) == before
    assert set(touched) >= {"public.notes", "public.regions", 'public."Countries"'}
    # Identity columns keep counting, as after a rollback.
    async with seeded.begin() as connection:
        new_id = await connection.scalar(
            text("INSERT INTO regions (name) VALUES ('later') RETURNING id")
        )
    assert new_id == 4


@pytest.mark.asyncio
async def test_without_the_right_to_silence_triggers_it_repeats_until_nothing_changes(
    seeded: AsyncEngine,
) -> None:
    # A role that may not set session_replication_role: the trigger on notes
    # writes to history.changes while the cleanup truncates, so a second round
    # has to empty history.changes again.
    role = "chassis_committed_plain"
    async with seeded.begin() as connection:
        await connection.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
        await connection.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        await connection.exec_driver_sql(
            f"GRANT ALL ON ALL TABLES IN SCHEMA public, history TO {role}"
        )
        await connection.exec_driver_sql(f"GRANT USAGE ON SCHEMA history TO {role}")
        await connection.exec_driver_sql(
            f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public, history TO {role}"
        )
    plain = create_async_engine(seeded.url.set(username=role, password=None), poolclass=NullPool)
    try:
        baseline = await baseline_of(plain)
        before = await contents(seeded)
        async with plain.begin() as connection:
            await connection.exec_driver_sql("INSERT INTO notes (body) VALUES ('a')")

        touched = await restore_baseline(plain, baseline)

        assert await contents(seeded) == before
        assert set(touched) == {"public.notes", "history.changes"}
    finally:
        await plain.dispose()
        async with seeded.begin() as connection:
            await connection.exec_driver_sql(f"DROP OWNED BY {role}")
            await connection.exec_driver_sql(f"DROP ROLE {role}")


@pytest.mark.asyncio
async def test_a_transaction_left_open_is_ended_rather_than_waited_for(
    seeded: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(committed, "LOCK_TIMEOUT", "200ms")
    baseline = await baseline_of(seeded)
    forgotten = await seeded.connect()
    try:
        await forgotten.exec_driver_sql("INSERT INTO notes (body) VALUES ('committed')")
        await forgotten.commit()
        # Still holds a lock on notes, idle in its transaction.
        await forgotten.exec_driver_sql("SELECT * FROM notes FOR UPDATE")

        touched = await asyncio.wait_for(restore_baseline(seeded, baseline), timeout=5)

        assert "public.notes" in touched
        async with seeded.connect() as connection:
            assert await connection.scalar(text("SELECT count(*) FROM notes")) == 0
    finally:
        await forgotten.invalidate()
        await forgotten.close()
