"""Monthly partitions: created ahead, DEFAULT catches the rest, retention drops months."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Callable
from typing import TypeVar

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner

from fastapi_chassis.db.audit import (
    audit_cli,
    create_partitions,
    drop_partitions,
    install_audit,
    list_partitions,
)
from tests.db.audit.models import AUDIT_METADATA

pytestmark = pytest.mark.db

_T = TypeVar("_T")
runner = CliRunner()


def run(url: str, work: Callable[[Connection], _T]) -> _T:
    """Run ``work`` on a synchronous connection in one committed transaction."""

    async def go() -> _T:
        engine = create_async_engine(url, poolclass=NullPool)
        try:
            async with engine.begin() as connection:
                return await connection.run_sync(work)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def month(offset: int) -> str:
    today = datetime.datetime.now(datetime.UTC)
    index = today.year * 12 + today.month - 1 + offset
    return f"log_p{index // 12:04d}{index % 12 + 1:02d}"


def partition_names(url: str) -> list[str]:
    return [partition.name for partition in run(url, list_partitions)]


def write_entry(url: str, occurred_at: str) -> None:
    """An audit row written at another time (only a superuser may write the log)."""
    run(
        url,
        lambda connection: connection.execute(
            text(
                "INSERT INTO audit.log (id, occurred_at, table_name, action, transaction_id, "
                "db_user) VALUES (gen_random_uuid(), CAST(CAST(:at AS text) AS timestamptz), "
                "'public.audit_counters', 'INSERT', 1, 'test')"
            ),
            {"at": occurred_at},
        ),
    )


def rows_in(url: str, partition: str) -> int:
    count = run(
        url,
        lambda connection: connection.execute(
            text(f"SELECT count(*) FROM audit.{partition}")
        ).scalar_one(),
    )
    assert isinstance(count, int)
    return count


def test_installation_creates_this_month_and_three_ahead_plus_default(
    audited_database: str,
) -> None:
    assert partition_names(audited_database) == [month(offset) for offset in range(4)] + [
        "log_default"
    ]


def test_creating_more_ahead_is_idempotent(audited_database: str) -> None:
    created = run(audited_database, lambda connection: create_partitions(connection, 5))
    again = run(audited_database, lambda connection: create_partitions(connection, 5))

    assert created == [month(4), month(5)]
    assert again == []


def test_rows_without_a_partition_land_in_default_and_move_to_their_month(
    audited_database: str,
) -> None:
    write_entry(audited_database, "2099-03-15 12:00:00+00")
    write_entry(audited_database, "2001-07-01 00:00:00+00")
    write_entry(audited_database, "2001-07-31 23:59:59.999999+00")
    assert rows_in(audited_database, "log_default") == 3

    created = run(audited_database, lambda connection: create_partitions(connection, 0))

    assert created == ["log_p200107", "log_p209903"]
    assert rows_in(audited_database, "log_default") == 0
    assert rows_in(audited_database, "log_p200107") == 2
    assert rows_in(audited_database, "log_p209903") == 1
    # The moved partition is a real partition, with the log's indexes.
    indexes = run(
        audited_database,
        lambda connection: connection.execute(
            text("SELECT count(*) FROM pg_indexes WHERE tablename = 'log_p200107'")
        ).scalar_one(),
    )
    assert indexes == 4


def test_retention_drops_whole_months_only_and_records_it(audited_database: str) -> None:
    for moment in ("2001-01-10", "2001-02-10", "2001-02-28 23:00"):
        write_entry(audited_database, f"{moment}+00")
    run(audited_database, lambda connection: create_partitions(connection, 0))
    recent = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=200)
    write_entry(audited_database, recent.isoformat())
    run(audited_database, lambda connection: create_partitions(connection, 0))
    kept = f"log_p{recent:%Y%m}"

    dropped = run(audited_database, lambda connection: drop_partitions(connection, "400d"))

    assert dropped == ["log_p200101", "log_p200102"]
    remaining = partition_names(audited_database)
    assert kept in remaining
    assert "log_default" in remaining
    assert month(0) in remaining
    prunes = run(
        audited_database,
        lambda connection: (
            connection.execute(text("SELECT new_data FROM audit.log WHERE action = 'PRUNE'"))
            .scalars()
            .all()
        ),
    )
    assert prunes == [{"partitions": ["log_p200101", "log_p200102"], "older_than": "400 days"}]
    assert run(audited_database, lambda connection: drop_partitions(connection, "400d")) == []


def test_retention_refuses_less_than_a_day(audited_database: str) -> None:
    with pytest.raises(Exception, match="at least one day"):
        run(audited_database, lambda connection: drop_partitions(connection, "1 hour"))


def test_install_audit_is_idempotent_on_existing_tables(audited_database: str) -> None:
    write_entry(audited_database, "2001-01-10+00")

    first = run(audited_database, lambda connection: install_audit(connection, AUDIT_METADATA))
    second = run(audited_database, lambda connection: install_audit(connection, AUDIT_METADATA))

    assert first == second
    assert set(first) == {
        "public.audit_accounts",
        "public.audit_counters",
        "public.audit_memberships",
        "ledger.audit_invoices",
    }
    # The log kept its rows; the rows in DEFAULT moved to their month.
    assert rows_in(audited_database, "log_p200101") == 1


def test_install_audit_adds_the_audit_to_tables_created_without_it(fresh_database: str) -> None:
    run(
        fresh_database,
        lambda connection: connection.execute(
            text("CREATE TABLE audit_counters (id integer PRIMARY KEY, value integer NOT NULL)")
        ),
    )

    installed = run(fresh_database, lambda connection: install_audit(connection, AUDIT_METADATA))
    run(
        fresh_database,
        lambda connection: connection.execute(text("INSERT INTO audit_counters VALUES (1, 1)")),
    )

    assert installed == ["public.audit_counters"]
    assert rows_in(fresh_database, "log") == 1


def invoke(*arguments: str) -> tuple[int, str]:
    result = runner.invoke(audit_cli, list(arguments))
    return result.exit_code, result.output


def test_cli_partitions_creates_ahead_and_lists(audited_database: str) -> None:
    code, output = invoke("partitions", "--months-ahead", "5", "--database-url", audited_database)

    assert code == 0, output
    lines = output.splitlines()
    assert lines[:2] == [f"created audit.{month(4)}", f"created audit.{month(5)}"]
    assert lines[-1].startswith("audit.log_default  everything else")
    assert len(lines) == 2 + 6 + 1


def test_cli_prune_dry_run_then_prune(
    audited_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_entry(audited_database, "2001-05-05+00")
    run(audited_database, lambda connection: create_partitions(connection, 0))
    monkeypatch.setenv("CHASSIS_DATABASE_URL", audited_database)

    code, output = invoke("prune", "--older-than", "400d", "--dry-run")
    assert (code, output) == (0, "would drop audit.log_p200105\n")
    assert "log_p200105" in partition_names(audited_database)

    code, output = invoke("prune", "--older-than", "400d")
    assert (code, output) == (0, "dropped audit.log_p200105\n")
    assert "log_p200105" not in partition_names(audited_database)

    code, output = invoke("prune", "--older-than", "400d")
    assert (code, output) == (0, "no partition of audit.log is older than 400 days\n")


def test_cli_status(audited_database: str) -> None:
    code, output = invoke("status", "--database-url", audited_database)

    assert code == 0
    assert output.splitlines()[0].startswith(f"audit.{month(0)}  ")


def test_cli_refuses_unclear_ages_and_missing_databases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHASSIS_DATABASE_URL", raising=False)

    code, output = invoke("prune", "--older-than", "12m", "--database-url", "postgresql://x/y")
    assert code == 2
    assert "expected an age" in output

    code, output = invoke("status")
    assert code == 2
    assert "no database" in output

    code, output = invoke("status", "--database-url", "mysql://x/y")
    assert code == 2
    assert "postgresql" in output
