"""``chassis synth list`` and ``chassis synth run``: scenarios from the command line.

The commands work on the application the ``chassis`` command loaded (``--app``
or the installed entry-point plugins): its plugins contribute the scenarios and
bind the roles to factories. ``run`` shows a progress bar with rows per second
and the time left, on standard error.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError

from fastapi_chassis.app import chassis_state
from fastapi_chassis.cli.application import current_app
from fastapi_chassis.settings import normalize_database_url
from fastapi_chassis.synthetic.catalog import find_scenario, role_factories, scenario_catalog
from fastapi_chassis.synthetic.errors import RoleBindingError, SyntheticDataError, UnknownScenario

if TYPE_CHECKING:
    from fastapi_chassis.synthetic.loader import BulkLoader
    from fastapi_chassis.synthetic.progress import LoadProgress
    from fastapi_chassis.synthetic.scenarios import Scenario

__all__ = ["synth"]

_USAGE_ERROR = 2

synth = typer.Typer(
    help="Generate synthetic data from scenarios.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
"""The ``synth`` command group (added to ``chassis`` by the built-in plugin)."""


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"chassis synth: error: {' '.join(message.split())}", err=True)
    raise typer.Exit(code)


@synth.command("list")
def list_scenarios(ctx: typer.Context) -> None:
    """List the scenarios: name, time window, default scale (orders) and description."""
    plugins = chassis_state(current_app(ctx)).plugins
    try:
        catalog = scenario_catalog(plugins)
    except SyntheticDataError as error:
        _fail(str(error))
    table = [("SCENARIO", "WINDOW", "ORDERS", "DESCRIPTION")]
    for scenario in catalog.values():
        window = f"{scenario.start} +{scenario.days}d"
        table.append((scenario.name, window, f"{scenario.default_scale:,}", scenario.description))
    widths = [max(len(row[column]) for row in table) for column in range(3)]
    for name, window, orders, description in table:
        typer.echo(
            f"{name:<{widths[0]}}  {window:<{widths[1]}}  {orders:>{widths[2]}}  {description}"
        )


@synth.command("run")
def run_scenario(
    ctx: typer.Context,
    scenario: Annotated[str, typer.Argument(help="The scenario's name (see 'synth list').")],
    *,
    scale: Annotated[
        int | None,
        typer.Option(
            "--scale",
            min=1,
            help="The number of orders; customers, products and order lines derive from it. "
            "By default the scenario's own volume.",
        ),
    ] = None,
    seed: Annotated[
        int,
        typer.Option("--seed", min=0, help="The same scenario, scale and seed give the same data."),
    ] = 0,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            envvar="CHASSIS_SYNTH_DATABASE_URL",
            help="Where to load; the application's database URL by default.",
        ),
    ] = None,
    batch_rows: Annotated[
        int, typer.Option("--batch-rows", min=1, help="Rows per batch handed to COPY.")
    ] = 10_000,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Generate SCENARIO's rows with the application's factories and COPY them in.

    Everything is loaded in one transaction: on error or Ctrl-C nothing is kept.
    """
    state = chassis_state(current_app(ctx))
    try:
        from fastapi_chassis.synthetic.loader import BulkLoader  # noqa: PLC0415
    except ImportError as error:
        _fail(f"synth run needs the synthetic extra (fastapi-chassis[synthetic]): {error}")
    try:
        chosen = find_scenario(scenario_catalog(state.plugins), scenario)
        counts = chosen.counts(scale)
        url = _database_url(database_url, state.settings.database_url)
        loader = BulkLoader(url, role_factories(state.plugins), batch_rows=batch_rows)
    except (UnknownScenario, ValueError) as error:
        _fail(str(error), _USAGE_ERROR)
    except RoleBindingError as error:
        _fail(str(error))
    except SyntheticDataError as error:  # no database URL
        _fail(str(error), _USAGE_ERROR)
    shown = make_url(url).render_as_string(hide_password=True)
    report = _run_with_progress(loader, chosen, counts.orders, seed, shown, quiet=quiet)
    per_table = ", ".join(f"{table} {rows:,}" for table, rows in report.rows.items())
    typer.echo(
        f"Loaded {report.total_rows:,} rows in {report.elapsed:.1f} s "
        f"({report.rows_per_second:,.0f} rows/s): {per_table}"
    )


def _database_url(option: str | None, configured: object) -> str:
    if option:
        return normalize_database_url(option).render_as_string(hide_password=False)
    secret = getattr(configured, "get_secret_value", None)
    if secret is None:
        raise SyntheticDataError("no database URL: pass --database-url or set CHASSIS_DATABASE_URL")
    value: str = secret()
    return value


def _run_with_progress(
    loader: BulkLoader, scenario: Scenario, scale: int, seed: int, shown_url: str, *, quiet: bool
) -> LoadProgress:
    from rich.console import Console  # noqa: PLC0415 - only this command draws
    from rich.progress import (  # noqa: PLC0415
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows  {task.fields[rate]:>10} rows/s"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, disable=quiet, transient=False) as bar:
        task = bar.add_task(scenario.name, total=scenario.counts(scale).expected_total, rate="-")

        def show(progress: LoadProgress) -> None:
            total = progress.total_rows if progress.finished else progress.expected_rows
            bar.update(
                task,
                completed=progress.total_rows,
                total=max(total, progress.total_rows),
                rate=f"{progress.rows_per_second:,.0f}",
            )

        loader.on_progress = show
        try:
            return asyncio.run(loader.load(scenario, scale=scale, seed=seed))
        except (OSError, InterfaceError, DBAPIError) as error:
            _fail(f"cannot load into {shown_url}: {_reason(error)}")
        except SyntheticDataError as error:
            _fail(str(error))
        except KeyboardInterrupt:
            _fail("interrupted; nothing was kept", 130)


def _reason(error: BaseException) -> str:
    original = getattr(error, "orig", None) or error
    text = " ".join(str(original).split())
    return text or type(original).__name__
