"""``chassis audit``: partitions and retention of the audit log.

A typer application of its own, which the built-in ``chassis.audit`` plugin adds
to the ``chassis`` command; it also runs on its own (tests use typer's
``CliRunner`` on :data:`audit_cli`). The database comes from ``--database-url``,
else ``CHASSIS_DATABASE_URL``, else the settings of the application ``chassis``
loaded. Run the commands as a role that may manage the audit (the audit owner
role or a member, such as the migration role), not as the application role.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, TypeVar

import typer
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from fastapi_chassis.db.audit.partitions import (
    PartitionInfo,
    create_partitions,
    drop_partitions,
    list_partitions,
    parse_age,
)
from fastapi_chassis.settings import ChassisSettings, normalize_database_url

__all__ = ["audit_cli"]

_T = TypeVar("_T")

audit_cli = typer.Typer(
    name="audit",
    help="Manage the audit log: monthly partitions and retention.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
"""The ``audit`` command group."""

_DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="CHASSIS_DATABASE_URL",
        show_envvar=True,
        help="The database; by default the application's.",
    ),
]


def _database_url(ctx: typer.Context, given: str | None) -> str:
    if given:
        return given
    # Under the chassis command, the root context holds the loaded application.
    app = ctx.find_root().obj
    settings = getattr(getattr(getattr(app, "state", None), "chassis", None), "settings", None)
    if isinstance(settings, ChassisSettings) and settings.database_url is not None:
        return settings.require_database_url().render_as_string(hide_password=False)
    raise typer.BadParameter(
        "no database: pass --database-url or set CHASSIS_DATABASE_URL",
        param_hint="--database-url",
    )


def _run(ctx: typer.Context, given: str | None, work: Callable[[Connection], _T]) -> _T:
    try:
        url = normalize_database_url(_database_url(ctx, given))
    except ValueError as error:
        raise typer.BadParameter(f"the database URL {error}", param_hint="--database-url") from None

    async def run() -> _T:
        engine = create_async_engine(url, poolclass=NullPool)
        try:
            async with engine.begin() as connection:
                return await connection.run_sync(work)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _describe(partition: PartitionInfo) -> str:
    if partition.lower is None or partition.upper is None:
        span = "everything else"
    else:
        span = f"{partition.lower:%Y-%m-%d} to {partition.upper:%Y-%m-%d}"
    return f"audit.{partition.name}  {span}  ~{partition.rows} rows"


@audit_cli.command("partitions")
def partitions_command(
    ctx: typer.Context,
    *,
    months_ahead: Annotated[
        int,
        typer.Option("--months-ahead", min=0, max=120, help="Months beyond the current one."),
    ] = 3,
    database_url: _DatabaseUrl = None,
) -> None:
    """Create the monthly partitions ahead (and for rows waiting in DEFAULT), then list them."""

    def work(connection: Connection) -> tuple[list[str], list[PartitionInfo]]:
        return create_partitions(connection, months_ahead), list_partitions(connection)

    created, partitions = _run(ctx, database_url, work)
    for name in created:
        typer.echo(f"created audit.{name}")
    for partition in partitions:
        typer.echo(_describe(partition))


@audit_cli.command("prune")
def prune_command(
    ctx: typer.Context,
    *,
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            help="Drop months that ended longer ago than this: 400d, 8w, 13mo, 2y.",
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be dropped; drop nothing.")
    ] = False,
    database_url: _DatabaseUrl = None,
) -> None:
    """Drop whole monthly partitions of the audit log older than the retention period."""
    try:
        interval = parse_age(older_than)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--older-than") from None

    def would_drop(connection: Connection) -> list[str]:
        cutoff = connection.execute(
            text("SELECT now() - CAST(CAST(:age AS text) AS interval)"), {"age": interval}
        ).scalar_one()
        return [
            partition.name
            for partition in list_partitions(connection)
            if partition.upper is not None and partition.upper <= cutoff
        ]

    if dry_run:
        names = _run(ctx, database_url, would_drop)
        verb = "would drop"
    else:
        names = _run(ctx, database_url, lambda connection: drop_partitions(connection, interval))
        verb = "dropped"
    for name in names:
        typer.echo(f"{verb} audit.{name}")
    if not names:
        typer.echo(f"no partition of audit.log is older than {interval}")


@audit_cli.command("status")
def status_command(ctx: typer.Context, *, database_url: _DatabaseUrl = None) -> None:
    """List the partitions of the audit log with their months and estimated rows."""
    for partition in _run(ctx, database_url, list_partitions):
        typer.echo(_describe(partition))
