"""The ``shop`` command: ``demo``, ``serve`` and ``migrate``.

Data generation and the outbox have their commands in ``chassis`` (``chassis
synth run``, ``chassis events relay``), which finds the shop through its plugin.
"""

import os
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import typer

cli = typer.Typer(
    name="shop",
    help="The example shop built on fastapi-chassis.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_MULTIPROCESS_ENV = ("PROMETHEUS_MULTIPROC_DIR", "CHASSIS_METRICS_MULTIPROCESS_DIR")


@cli.command()
def demo(
    *,
    scale: Annotated[
        int,
        typer.Option(
            min=1,
            envvar="SHOP_DEMO_SCALE",
            help="Orders to generate (customers, products and lines follow).",
        ),
    ] = 20_000,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    reseed: Annotated[
        bool, typer.Option("--reseed", help="Empty the embedded database and load it again.")
    ] = False,
) -> None:
    """Start a database, migrate, load Black Friday data and serve the shop.

    Without CHASSIS_DATABASE_URL or DATABASE_URL, an embedded PostgreSQL is
    started and kept in the user's cache directory, so the next start is fast.
    """
    from shop.demo import run_demo  # noqa: PLC0415 - keeps `shop --help` fast
    from shop.embedded import EmbeddedUnavailable  # noqa: PLC0415

    try:
        run_demo(scale=scale, host=host, port=port, reseed=reseed)
    except EmbeddedUnavailable as error:
        typer.echo(f"shop demo: error: {error}", err=True)
        raise typer.Exit(1) from None


@cli.command()
def serve(
    *,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    reload: Annotated[bool, typer.Option("--reload", help="Restart on code changes.")] = False,
    graceful_timeout: Annotated[
        int, typer.Option(min=1, help="Seconds in-flight requests get at shutdown.")
    ] = 20,
) -> None:
    """Serve the shop with uvicorn (the database comes from the environment)."""
    import uvicorn  # noqa: PLC0415

    if workers > 1:
        prepare_multiprocess_metrics()
    uvicorn.run(
        "shop.main:create_shop_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        reload=reload,
        timeout_graceful_shutdown=graceful_timeout,
        log_config=None,
    )


def prepare_multiprocess_metrics() -> None:
    """Give the worker processes an empty directory for their metrics.

    Every worker writes its metrics to files in one directory, which must be
    empty when the server starts (a restarted container keeps its files): the
    configured one (``PROMETHEUS_MULTIPROC_DIR`` or
    ``CHASSIS_METRICS_MULTIPROCESS_DIR``) is emptied, or a new one is made.
    """
    configured = next(
        (os.environ[name] for name in _MULTIPROCESS_ENV if os.environ.get(name)), None
    )
    directory = Path(configured) if configured else Path(tempfile.mkdtemp(prefix="shop-metrics-"))
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


@cli.command()
def migrate(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply the migrations to the configured database (alembic upgrade)."""
    from fastapi_chassis.observability import configure_logging  # noqa: PLC0415

    from shop.migrations import upgrade  # noqa: PLC0415

    configure_logging(json=False)
    upgrade(revision=revision)


def main() -> None:
    """Run the ``shop`` command (the console script's entry point)."""
    cli()
