"""Real commits in a test, and putting the database back afterwards (``committed_db``).

Most tests never commit: ``db_session`` rolls back. Some must: a relay that
reads what another transaction committed, two sessions racing for a row,
``LISTEN``/``NOTIFY`` (delivered on commit). In a test that requests
``committed_db``, ``db_session`` and the application behind ``client`` commit
for real, on the run's database, and after the test the database is put back
as it was when it was cloned from the template.

Putting it back is quick when little changed, which is what a test does. When
the run's database is made, the plugin notes its tables and the rows of those
that are not empty (seed rows from data migrations, Alembic's version table).
After a ``committed_db`` test it finds the tables that now hold rows, truncates
those that were empty, and reloads the seeded ones whose contents changed, in
foreign-key order. Triggers are switched off while it does so when the role may
(``session_replication_role``), so no audit rows are written; otherwise it
repeats until nothing changes. A clone of the template per test would be exact
too, but costs a few hundred milliseconds against a few for this.

Limitations: only table contents are restored, not schema changes or other
objects a test creates (drop those yourself); sequences keep counting, as they
do after a rollback.
"""

from __future__ import annotations

import contextlib
import graphlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

__all__ = [
    "LOCK_TIMEOUT",
    "CommittedDatabase",
    "DatabaseBaseline",
    "SeedTable",
    "read_baseline",
    "restore_baseline",
]

_SQL = "fastapi_chassis.testing.sql"
LOCK_TIMEOUT = "10s"
"""How long the cleanup waits for a lock before ending transactions left idle."""

# SQLSTATE 55P03: lock_timeout ran out.
_LOCK_NOT_AVAILABLE = "55P03"
_ROUNDS = 6
_LOCK_ATTEMPTS = 2


@dataclass(frozen=True)
class CommittedDatabase:
    """The database a ``committed_db`` test commits to (the value of the fixture).

    Attributes:
        url: Its URL; open more connections with ``db_engine`` or your own engine.
        name: Its name.
    """

    url: str
    name: str


@dataclass(frozen=True)
class SeedTable:
    """A table that held rows when the database was made.

    Attributes:
        name: The quoted, schema-qualified name.
        columns: Its columns, quoted, generated ones left out.
        checksum: A hash of its rows, to tell whether they changed.
        rows: The rows as a JSON array, to load them again.
    """

    name: str
    columns: tuple[str, ...]
    checksum: str
    rows: str


@dataclass(frozen=True)
class DatabaseBaseline:
    """What a database held when it was made (see :func:`read_baseline`).

    Attributes:
        tables: Every table (partitioned ones by their parent), quoted and qualified.
        seeds: The tables that held rows, in foreign-key order (referenced first).
    """

    tables: tuple[str, ...]
    seeds: tuple[SeedTable, ...] = field(default=())

    def probe_sql(self) -> str:
        """Return one query that lists the positions (in :attr:`tables`) of non-empty tables."""
        # The names come from the catalog, quoted by format('%I.%I').
        return " UNION ALL ".join(
            f"SELECT {index} WHERE EXISTS (SELECT FROM {name})"  # noqa: S608
            for index, name in enumerate(self.tables)
        )


# The statements below are made per table; every name in them comes from the
# catalog already quoted (format('%I.%I')), never from input.


def _checksum_sql(name: str) -> str:
    return f"SELECT md5(coalesce(string_agg(x::text, E'\\n' ORDER BY x::text), '')) FROM {name} x"  # noqa: S608


def _rows_sql(name: str, columns: tuple[str, ...]) -> str:
    selected = ", ".join(columns)
    return f"SELECT coalesce(json_agg(x), '[]')::text FROM (SELECT {selected} FROM {name}) x"  # noqa: S608


def _reload_sql(seed: SeedTable) -> str:
    columns = ", ".join(seed.columns)
    return (
        f"INSERT INTO {seed.name} ({columns}) OVERRIDING SYSTEM VALUE "  # noqa: S608
        f"SELECT {columns} FROM json_populate_recordset(NULL::{seed.name}, CAST(:rows AS json))"
    )


async def read_baseline(connection: AsyncConnection) -> DatabaseBaseline:
    """Note a database's tables and the rows of the non-empty ones.

    Args:
        connection: A connection to the database, in a transaction.

    Returns:
        The baseline :func:`restore_baseline` puts the database back to.
    """
    from sqlalchemy import text  # noqa: PLC0415

    from fastapi_chassis.db.sql_files import load_sql  # noqa: PLC0415

    tables = (await connection.execute(text(load_sql(_SQL, "user_tables.sql")))).all()
    names = tuple(str(row.qualified_name) for row in tables)
    if not names:
        return DatabaseBaseline(names)
    baseline = DatabaseBaseline(names)
    occupied = {int(index) for index in await connection.scalars(text(baseline.probe_sql()))}
    seeded = {int(tables[index].oid): names[index] for index in occupied}
    edges = (await connection.execute(text(load_sql(_SQL, "foreign_keys.sql")))).all()
    sorter: graphlib.TopologicalSorter[int] = graphlib.TopologicalSorter()
    for oid in seeded:
        sorter.add(oid)
    for child, parent in edges:
        if child in seeded and parent in seeded and child != parent:
            sorter.add(int(child), int(parent))
    try:
        order = list(sorter.static_order())
    except graphlib.CycleError:
        order = sorted(seeded)
    seeds: list[SeedTable] = []
    for oid in order:
        name = seeded[oid]
        columns = tuple(
            await connection.scalars(text(load_sql(_SQL, "table_columns.sql")), {"oid": oid})
        )
        checksum = await connection.scalar(text(_checksum_sql(name)))
        rows = await connection.scalar(text(_rows_sql(name, columns)))
        seeds.append(SeedTable(name, columns, str(checksum), str(rows)))
    return DatabaseBaseline(names, tuple(seeds))


async def restore_baseline(engine: AsyncEngine, baseline: DatabaseBaseline) -> list[str]:
    """Put the database back to ``baseline``: empty what was empty, reload seeds.

    Args:
        engine: An engine on the database; one connection is taken from it.
        baseline: What the database held when it was made.

    Returns:
        The tables that had to be emptied or reloaded, in the order first seen.

    Raises:
        RuntimeError: If the database still differs after several rounds.
    """
    if not baseline.tables:
        return []
    touched: list[str] = []
    async with engine.connect() as connection:
        quiet = await _prepare(connection)
        try:
            for _ in range(_ROUNDS):
                changed = await _restore_round(connection, baseline)
                if not changed:
                    return touched
                touched.extend(name for name in changed if name not in touched)
        finally:
            await _unprepare(connection, quiet=quiet)
    raise RuntimeError(
        f"the tables {', '.join(touched)} kept changing while committed_db restored them: "
        "a trigger or another connection writes to them"
    )


async def _prepare(connection: AsyncConnection) -> bool:
    from sqlalchemy import text  # noqa: PLC0415

    # A lock another connection holds must not hang the run.
    await connection.exec_driver_sql(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
    superuser = await connection.scalar(
        text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    )
    if superuser:
        # No audit rows for the cleanup, and foreign keys (triggers too) cannot
        # fail the reload whatever its order.
        await connection.exec_driver_sql("SET session_replication_role = replica")
    await connection.commit()
    return bool(superuser)


async def _unprepare(connection: AsyncConnection, *, quiet: bool) -> None:
    # The connection may go back to a pool that the tests use.
    await connection.rollback()
    if quiet:
        await connection.exec_driver_sql("RESET session_replication_role")
    await connection.exec_driver_sql("RESET lock_timeout")
    await connection.commit()


async def _restore_round(connection: AsyncConnection, baseline: DatabaseBaseline) -> list[str]:
    from sqlalchemy.exc import DBAPIError  # noqa: PLC0415

    from fastapi_chassis.db.errors import sqlstate  # noqa: PLC0415

    for attempt in range(_LOCK_ATTEMPTS):
        try:
            changed = await _restore_once(connection, baseline)
        except DBAPIError as error:
            await connection.rollback()
            locked = sqlstate(error) == _LOCK_NOT_AVAILABLE
            if not locked or attempt == _LOCK_ATTEMPTS - 1:
                raise
            await _release_stuck_transactions(connection)
        else:
            await connection.commit()
            return changed
    return []  # pragma: no cover - the loop returns or raises


async def _restore_once(connection: AsyncConnection, baseline: DatabaseBaseline) -> list[str]:
    from sqlalchemy import text  # noqa: PLC0415

    occupied = {int(index) for index in await connection.scalars(text(baseline.probe_sql()))}
    seeds: Mapping[str, SeedTable] = {seed.name: seed for seed in baseline.seeds}
    dirty_seeds = []
    for seed in baseline.seeds:
        checksum = await connection.scalar(text(_checksum_sql(seed.name)))
        if checksum != seed.checksum:
            dirty_seeds.append(seed)
    extra = [
        baseline.tables[index] for index in sorted(occupied) if baseline.tables[index] not in seeds
    ]
    targets = [*extra, *(seed.name for seed in dirty_seeds)]
    if not targets:
        return []
    await connection.exec_driver_sql(f"TRUNCATE {', '.join(targets)} CASCADE")
    for seed in dirty_seeds:
        await connection.execute(text(_reload_sql(seed)), {"rows": seed.rows})
    return targets


async def _release_stuck_transactions(connection: AsyncConnection) -> None:
    from sqlalchemy import text  # noqa: PLC0415

    from fastapi_chassis.db.sql_files import load_sql  # noqa: PLC0415

    # A connection the test left idle in a transaction holds locks that
    # TRUNCATE waits for; the test is over, so its transaction goes.
    with contextlib.suppress(Exception):
        await connection.execute(text(load_sql(_SQL, "release_stuck_transactions.sql")))
        await connection.commit()
