"""What the audit triggers cost: throughput ratios against the same table unaudited.

Run with ``nox -s bench`` (or ``python benchmarks/audit_triggers.py --help``).

Three tables with the same columns are compared in one run, in a throwaway
database created on the server of ``--database-url`` (default
``CHASSIS_TEST_DATABASE_URL``, else a server started as the test suite starts
one: Docker, else the embedded PostgreSQL) and dropped at the end:

* ``bench_plain``: no audit, the baseline;
* ``bench_audited``: the chassis audit (statement-level triggers);
* ``bench_anchor``: a row-level trigger in the style of postgresql-audit
  (``to_jsonb(OLD)`` and ``to_jsonb(NEW)``, a generic jsonb diff), as a reference.

By default the tables are chassis models (UUIDv7 key, timestamps, soft delete and
version, with their ``updated_at``/version trigger); ``--bare`` uses a bare table
(bigint identity key, no chassis columns) instead.

Workloads:

* single-row INSERT and UPDATE throughput: ``pgbench`` with ``--clients``
  concurrent clients for ``--seconds`` per round (each statement its own
  transaction); asyncpg connections when ``pgbench`` is not installed;
* one statement that updates ``--rows`` rows, and one ``INSERT ... SELECT`` of
  ``--rows`` rows.

Each workload runs in interleaved rounds and the best round counts (as
:mod:`timeit` recommends): slower rounds measure the machine's other work, and
interleaving spreads noisy neighbours over every table alike. Ratios are
throughput relative to ``bench_plain`` measured in the same run, so they compare
across machines where absolute timings do not. Targets for the audited table: at
least 0.80 for single-row work, 0.30 for bulk statements. The exit status is 1
when a target is missed, 0 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Computed,
    DateTime,
    FetchedValue,
    Identity,
    Integer,
    MetaData,
    Numeric,
    Table,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from fastapi_chassis.db.audit import configure_audit, enable_audit
from fastapi_chassis.db.columns import ColumnRole, role_info
from fastapi_chassis.db.server_objects import install_on_create
from fastapi_chassis.settings import normalize_database_url
from fastapi_chassis.testing.postgres import TEST_DATABASE_URL_ENV, start_server, with_database

TABLES = ("bench_plain", "bench_audited", "bench_anchor")
SINGLE_ROW_TARGET = 0.80
BULK_TARGET = 0.30

# A row-level trigger as postgresql-audit writes one: whole rows as jsonb, the
# changed columns found by diffing them, one function call per row.
ANCHOR_SQL = (
    """
    CREATE TABLE bench_anchor_log (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        issued_at timestamptz NOT NULL DEFAULT now(),
        table_name text NOT NULL,
        record_id text,
        verb text NOT NULL,
        old_data jsonb,
        changed_data jsonb,
        actor text,
        transaction_id bigint NOT NULL
    )
    """,
    "CREATE INDEX ON bench_anchor_log (table_name, record_id)",
    """
    CREATE FUNCTION bench_anchor_audit() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        old_row jsonb;
        new_row jsonb;
        changed jsonb;
    BEGIN
        IF TG_OP = 'INSERT' THEN
            new_row := to_jsonb(NEW);
            INSERT INTO bench_anchor_log (table_name, record_id, verb, changed_data, actor,
                                          transaction_id)
            VALUES (TG_TABLE_NAME, NEW.id::text, 'insert', new_row,
                    current_setting('chassis.actor', true), txid_current());
            RETURN NEW;
        ELSIF TG_OP = 'UPDATE' THEN
            old_row := to_jsonb(OLD);
            new_row := to_jsonb(NEW);
            SELECT jsonb_object_agg(n.key, n.value) INTO changed
            FROM jsonb_each(new_row) AS n
            WHERE NOT old_row @> jsonb_build_object(n.key, n.value);
            IF changed IS NOT NULL THEN
                INSERT INTO bench_anchor_log (table_name, record_id, verb, old_data,
                                              changed_data, actor, transaction_id)
                VALUES (TG_TABLE_NAME, NEW.id::text, 'update', old_row, changed,
                        current_setting('chassis.actor', true), txid_current());
            END IF;
            RETURN NEW;
        END IF;
        INSERT INTO bench_anchor_log (table_name, record_id, verb, old_data, actor,
                                      transaction_id)
        VALUES (TG_TABLE_NAME, OLD.id::text, 'delete', to_jsonb(OLD),
                current_setting('chassis.actor', true), txid_current());
        RETURN OLD;
    END;
    $$
    """,
    """
    CREATE TRIGGER bench_anchor_audit AFTER INSERT OR UPDATE OR DELETE ON bench_anchor
    FOR EACH ROW EXECUTE FUNCTION bench_anchor_audit()
    """,
)

INSERT_ROW = (
    "INSERT INTO {table} (seq, name, sku, price, stock, note) "
    "SELECT s, 'item', 'sku-' || s, 9.99, 5, NULL FROM nextval('bench_seq') AS s"
)
UPDATE_ROW = "UPDATE {table} SET stock = stock + 1 WHERE seq = {seq}"
INSERT_MANY = (
    "INSERT INTO {table} (seq, name, sku, price, stock, note) "
    "SELECT g, 'item ' || g, 'sku-' || g, (g % 1000) / 10.0, g % 50, "
    "CASE WHEN g % 3 = 0 THEN 'note' END FROM generate_series({first}, {last}) AS g"
)
UPDATE_ALL = "UPDATE {table} SET stock = stock + 1"


def bench_table(metadata: MetaData, name: str, *, bare: bool) -> Table:
    """A table of the benchmark: a chassis model's columns, or a bare table's."""
    columns: list[Column[object]] = []
    if bare:
        columns.append(Column("id", BigInteger, Identity(), primary_key=True))
    else:
        columns.append(
            Column(
                "id",
                Uuid,
                primary_key=True,
                server_default=text("public.chassis_uuid7()"),
                info=role_info(ColumnRole.UUID7_PRIMARY_KEY),
            )
        )
    columns += [
        Column("seq", Integer, nullable=False, unique=True),
        Column("name", Text, nullable=False),
        Column("sku", Text, nullable=False, index=True),
        Column("price", Numeric(12, 2), nullable=False, server_default="0"),
        Column("stock", Integer, nullable=False, server_default="0"),
        Column("note", Text),
    ]
    if not bare:
        columns += [
            Column(
                "created_at",
                DateTime(timezone=True),
                nullable=False,
                server_default=func.now(),
                info=role_info(ColumnRole.CREATED_AT),
            ),
            Column(
                "updated_at",
                DateTime(timezone=True),
                nullable=False,
                server_default=func.now(),
                server_onupdate=FetchedValue(),
                info=role_info(ColumnRole.UPDATED_AT),
            ),
            Column("deleted_at", DateTime(timezone=True), info=role_info(ColumnRole.DELETED_AT)),
            Column(
                "is_deleted",
                Boolean,
                Computed("deleted_at IS NOT NULL", persisted=True),
                info=role_info(ColumnRole.IS_DELETED),
            ),
            Column(
                "version",
                Integer,
                nullable=False,
                server_default="1",
                info=role_info(ColumnRole.VERSION),
            ),
        ]
    table = Table(name, metadata, *columns)
    install_on_create(table)
    return table


@dataclass
class Workload:
    """One measured workload and the best throughput of each table."""

    name: str
    target: float
    best: dict[str, float] = field(default_factory=dict)

    def record(self, table: str, per_second: float) -> None:
        self.best[table] = max(self.best.get(table, 0.0), per_second)

    def ratio(self, table: str) -> float:
        return self.best[table] / self.best["bench_plain"]


def libpq_environment(url: URL) -> dict[str, str]:
    """The ``PG*`` variables that point pgbench at the database of ``url``."""
    host = url.query.get("host")  # the embedded server listens on a socket directory
    environ = {
        "PGHOST": host if isinstance(host, str) else url.host or "localhost",
        "PGPORT": str(url.port or 5432),
        "PGUSER": url.username or "postgres",
        "PGDATABASE": url.database or "postgres",
    }
    if url.password:
        environ["PGPASSWORD"] = str(url.password)
    return environ


async def prepare(engine: AsyncEngine, owner_role: str, *, bare: bool) -> None:
    metadata = MetaData()
    configure_audit(metadata, owner_role=owner_role)
    tables = {name: bench_table(metadata, name, bare=bare) for name in TABLES}
    enable_audit(tables["bench_audited"])
    async with engine.connect() as connection:
        await connection.run_sync(metadata.create_all)
        await connection.exec_driver_sql("CREATE SEQUENCE bench_seq START 1000000000")
        for statement in ANCHOR_SQL:
            await connection.exec_driver_sql(statement)


async def reset(connection: AsyncConnection, table: str, rows: int) -> None:
    """Empty the logs, fill ``table`` with ``rows`` rows, vacuum, analyze, checkpoint."""
    await connection.exec_driver_sql(f"TRUNCATE {table}, bench_anchor_log")
    if rows:
        await connection.exec_driver_sql(INSERT_MANY.format(table=table, first=1, last=rows))
    await connection.exec_driver_sql("TRUNCATE audit.log, bench_anchor_log")
    await connection.exec_driver_sql(f"VACUUM ANALYZE {table}")
    await connection.exec_driver_sql("CHECKPOINT")


async def timed(connection: AsyncConnection, statement: str) -> float:
    started = time.perf_counter()
    await connection.exec_driver_sql(statement)
    return time.perf_counter() - started


async def bulk(engine: AsyncEngine, rows: int, rounds: int) -> list[Workload]:
    inserts = Workload(f"INSERT ... SELECT of {rows:,} rows", BULK_TARGET)
    updates = Workload(f"UPDATE of {rows:,} rows in one statement", BULK_TARGET)
    async with engine.connect() as connection:
        for _ in range(rounds):
            for table in TABLES:
                await reset(connection, table, 0)
                seconds = await timed(
                    connection, INSERT_MANY.format(table=table, first=1, last=rows)
                )
                inserts.record(table, rows / seconds)
                await reset(connection, table, rows)
                updates.record(
                    table, rows / await timed(connection, UPDATE_ALL.format(table=table))
                )
                if table == "bench_audited":
                    await check_audited(connection, rows)
    return [inserts, updates]


async def check_audited(connection: AsyncConnection, rows: int) -> None:
    """Fail unless the audited UPDATE wrote one audit row per changed row."""
    written = (
        await connection.exec_driver_sql(
            "SELECT count(*) FROM audit.log WHERE table_name = 'public.bench_audited' "
            "AND action = 'UPDATE'"
        )
    ).scalar()
    if written != rows:
        raise SystemExit(f"the audited UPDATE wrote {written} audit rows, not {rows}")


def pgbench_tps(environ: dict[str, str], script: str, clients: int, seconds: float) -> float:
    assert PGBENCH is not None
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as handle:
        handle.write(script)
    try:
        completed = subprocess.run(  # noqa: S603 - pgbench from PATH, our own script
            [
                PGBENCH,
                "--no-vacuum",
                f"--client={clients}",
                f"--jobs={clients}",
                f"--time={max(1, round(seconds))}",
                f"--file={handle.name}",
            ],
            env={**os.environ, **environ},
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        Path(handle.name).unlink()
    match = re.search(r"tps = ([0-9.]+)", completed.stdout)
    if match is None:
        raise SystemExit(f"cannot read pgbench's output:\n{completed.stdout}{completed.stderr}")
    return float(match[1])


async def clients_tps(
    engine: AsyncEngine, statements: list[str], clients: int, seconds: float
) -> float:
    # Without pgbench: each client sends one statement per transaction, as pgbench does.
    deadline = time.perf_counter() + seconds
    counts = [0] * clients

    async def client(index: int) -> None:
        async with engine.connect() as connection:
            while time.perf_counter() < deadline:
                await connection.exec_driver_sql(random.choice(statements))
                counts[index] += 1

    started = time.perf_counter()
    await asyncio.gather(*(client(index) for index in range(clients)))
    return sum(counts) / (time.perf_counter() - started)


async def single_row_tps(
    engine: AsyncEngine,
    environ: dict[str, str],
    statement: str,
    *,
    rows: int,
    clients: int,
    seconds: float,
) -> float:
    if PGBENCH is not None:
        script = f"\\set seq random(1, {rows})\n{statement.format(seq=':seq')};\n"
        return await asyncio.to_thread(pgbench_tps, environ, script, clients, seconds)
    statements = [statement.format(seq=random.randint(1, rows)) for _ in range(1000)]
    return await clients_tps(engine, statements, clients, seconds)


async def single_rows(
    engine: AsyncEngine,
    environ: dict[str, str],
    *,
    rows: int,
    rounds: int,
    clients: int,
    seconds: float,
) -> list[Workload]:
    inserts = Workload(f"single-row INSERT, {clients} clients", SINGLE_ROW_TARGET)
    updates = Workload(f"single-row UPDATE, {clients} clients", SINGLE_ROW_TARGET)

    async def measure(statement: str) -> float:
        return await single_row_tps(
            engine, environ, statement, rows=rows, clients=clients, seconds=seconds
        )

    async with engine.connect() as connection:
        for _ in range(rounds):
            for table in TABLES:
                await reset(connection, table, rows)
                inserts.record(table, await measure(INSERT_ROW.format(table=table)))
                await reset(connection, table, rows)
                updates.record(table, await measure(UPDATE_ROW.format(table=table, seq="{seq}")))
    return [inserts, updates]


def report(workloads: list[Workload]) -> bool:
    print(f"{'workload':42} {'plain/s':>10} {'audited':>8} {'anchor':>8} {'target':>7}")
    passed = True
    for workload in workloads:
        audited, anchor = workload.ratio("bench_audited"), workload.ratio("bench_anchor")
        ok = audited >= workload.target
        passed = passed and ok
        print(
            f"{workload.name:42} {workload.best['bench_plain']:10,.0f} "
            f"{audited:8.2f} {anchor:8.2f} {workload.target:7.2f}{'' if ok else '  MISSED'}"
        )
    print("audited, anchor: rows per second relative to the same table without audit")
    return passed


PGBENCH = shutil.which("pgbench")


async def run(url: str, arguments: argparse.Namespace, owner_role: str) -> list[Workload]:
    engine = create_async_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        await prepare(engine, owner_role, bare=arguments.bare)
        workloads = await bulk(engine, arguments.rows, arguments.rounds)
        if not arguments.skip_single_row:
            workloads += await single_rows(
                engine,
                libpq_environment(make_url(url)),
                rows=arguments.rows,
                rounds=arguments.rounds,
                clients=arguments.clients,
                seconds=arguments.seconds,
            )
        return workloads
    finally:
        await engine.dispose()


async def drop_role(server_url: str, role: str) -> None:
    engine = create_async_engine(server_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        help=f"a server to make the throwaway database on (default: ${TEST_DATABASE_URL_ENV}, "
        "else Docker or an embedded PostgreSQL)",
    )
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the bulk statements")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per workload")
    parser.add_argument("--clients", type=int, default=4, help="single-row clients")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of a single-row run")
    parser.add_argument("--bare", action="store_true", help="bare tables, no chassis columns")
    parser.add_argument("--skip-single-row", action="store_true", help="bulk statements only")
    arguments = parser.parse_args(argv)
    # The owner role belongs to the whole cluster: a name of this run's own.
    owner_role = f"chassis_audit_bench_{os.getpid()}"
    with contextlib.ExitStack() as stack:
        if arguments.database_url:
            server_url = normalize_database_url(arguments.database_url).render_as_string(
                hide_password=False
            )
        else:
            server = start_server()
            stack.callback(server.stop)
            server_url = server.url
        try:
            with with_database(server_url, prefix="chassis_bench_audit") as url:
                workloads = asyncio.run(run(url, arguments, owner_role))
        finally:
            asyncio.run(drop_role(server_url, owner_role))
    shape = "bare tables" if arguments.bare else "chassis models"
    print(f"{shape}; single-row clients: {PGBENCH or 'asyncpg (pgbench not found)'}")
    return 0 if report(workloads) else 1


if __name__ == "__main__":
    sys.exit(main())
