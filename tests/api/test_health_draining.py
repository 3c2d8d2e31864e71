"""SIGTERM turns readiness to 503 before the server stops serving.

The in-process tests deliver real signals to the test process, always with a
recording handler installed first, so the default action (exit) never runs.
The uvicorn tests run a real server in a subprocess and stop it the way
Kubernetes does.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from types import FrameType

import pytest

from fastapi_chassis.api.draining import watch_termination
from tests.api.conftest import AppFactory, running

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


@contextmanager
def recorded_sigterm() -> Iterator[list[int]]:
    """Stand in for the server's SIGTERM handler, recording what reaches it."""
    received: list[int] = []

    def record(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = signal.signal(signal.SIGTERM, record)
    try:
        yield received
    finally:
        signal.signal(signal.SIGTERM, previous)


async def _eventually(condition: Callable[[], bool], timeout: float = 2.0) -> float:
    started = time.perf_counter()
    while not condition():
        if time.perf_counter() - started > timeout:
            raise AssertionError("the condition never became true")
        await asyncio.sleep(0.01)
    return time.perf_counter() - started


@pytest.mark.asyncio
async def test_sigterm_fails_readiness_and_reaches_the_previous_handler(
    make_app: AppFactory,
) -> None:
    with recorded_sigterm() as received:
        server_handler = signal.getsignal(signal.SIGTERM)
        app = make_app()
        async with running(app) as client:
            assert signal.getsignal(signal.SIGTERM) != server_handler
            assert (await client.get("/health/ready")).status_code == 200
            signal.raise_signal(signal.SIGTERM)
            assert app.state.chassis.draining
            assert received == [signal.SIGTERM]
            ready = await client.get("/health/ready")
            live = await client.get("/health/live")
        assert ready.status_code == 503
        assert live.status_code == 200
        assert signal.getsignal(signal.SIGTERM) == server_handler
        assert received == [signal.SIGTERM]


@pytest.mark.asyncio
async def test_the_delay_holds_the_signal_back_while_readiness_fails(
    make_app: AppFactory,
) -> None:
    with recorded_sigterm() as received:
        app = make_app(shutdown_delay_seconds=0.3)
        async with running(app) as client:
            signal.raise_signal(signal.SIGTERM)
            assert received == []
            ready = await client.get("/health/ready")
            waited = await _eventually(lambda: bool(received))
        assert ready.status_code == 503
        assert 0.2 < waited < 1.0
        assert received == [signal.SIGTERM]


@pytest.mark.asyncio
async def test_a_second_sigterm_is_passed_on_at_once(make_app: AppFactory) -> None:
    with recorded_sigterm() as received:
        async with running(make_app(shutdown_delay_seconds=30)):
            signal.raise_signal(signal.SIGTERM)
            assert received == []
            signal.raise_signal(signal.SIGTERM)
            assert received == [signal.SIGTERM]
            await asyncio.sleep(0.05)
        assert received == [signal.SIGTERM]


@pytest.mark.asyncio
async def test_a_held_signal_is_passed_on_when_the_application_stops(
    make_app: AppFactory,
) -> None:
    with recorded_sigterm() as received:
        async with running(make_app(shutdown_delay_seconds=30)):
            signal.raise_signal(signal.SIGTERM)
            assert received == []
        assert received == [signal.SIGTERM]


@pytest.mark.asyncio
async def test_one_signal_drains_every_application_in_the_process(make_app: AppFactory) -> None:
    with recorded_sigterm() as received:
        server_handler = signal.getsignal(signal.SIGTERM)
        first, second = make_app(), make_app()
        first_run, second_run = running(first), running(second)
        await first_run.__aenter__()
        await second_run.__aenter__()
        signal.raise_signal(signal.SIGTERM)
        # Stopped in the order they started, not the reverse.
        await first_run.__aexit__(None, None, None)
        assert signal.getsignal(signal.SIGTERM) != server_handler
        await second_run.__aexit__(None, None, None)
        assert first.state.chassis.draining
        assert second.state.chassis.draining
        assert received == [signal.SIGTERM]
        assert signal.getsignal(signal.SIGTERM) == server_handler


@pytest.mark.asyncio
async def test_a_failing_watcher_does_not_stop_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    told: list[str] = []

    def fails() -> None:
        raise RuntimeError("watcher broke")

    with recorded_sigterm() as received:
        broken = watch_termination(fails)
        working = watch_termination(lambda: told.append("told"))
        assert broken is not None
        assert working is not None
        try:
            with caplog.at_level(logging.ERROR, logger="fastapi_chassis.draining"):
                signal.raise_signal(signal.SIGTERM)
                await asyncio.sleep(0.01)
        finally:
            broken.stop()
            working.stop()
        assert told == ["told"]
        assert received == [signal.SIGTERM]
        assert "a SIGTERM watcher failed" in caplog.text


def test_no_handler_is_installed_outside_the_main_thread() -> None:
    before = signal.getsignal(signal.SIGTERM)
    results: list[object] = []

    async def watch() -> None:
        results.append(watch_termination(lambda: None))

    thread = threading.Thread(target=lambda: asyncio.run(watch()))
    thread.start()
    thread.join()
    assert results == [None]
    assert signal.getsignal(signal.SIGTERM) == before


@pytest.mark.asyncio
async def test_a_negative_delay_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        watch_termination(lambda: None, delay=-1)


# A process whose SIGTERM handler is the default action still dies of SIGTERM,
# after the delay, and readiness fails meanwhile.
_DEFAULT_ACTION = """
import asyncio, signal, time
import httpx
from fastapi_chassis import ChassisSettings, create_app

async def main() -> None:
    app = create_app(ChassisSettings(database_url=None, shutdown_delay_seconds=0.5))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            signal.raise_signal(signal.SIGTERM)
            status = (await client.get("/health/ready")).status_code
            print("readiness", status, time.monotonic(), flush=True)
            await asyncio.sleep(10)
    print("not killed", flush=True)

asyncio.run(main())
"""


def test_the_default_action_still_ends_the_process_after_the_delay(tmp_path: Path) -> None:
    script = tmp_path / "default_action.py"
    script.write_text(_DEFAULT_ACTION)
    completed = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(script)], capture_output=True, text=True, timeout=30, check=False
    )
    ended = time.monotonic()
    assert completed.returncode == -signal.SIGTERM, completed.stderr
    [line] = [line for line in completed.stdout.splitlines() if line.startswith("readiness ")]
    _, status, signalled = line.split()
    assert status == "503"
    assert ended - float(signalled) >= 0.5


# -- a real uvicorn --------------------------------------------------------------

_APP_MODULE = """
import asyncio, os, pathlib, time
import httpx
from fastapi import FastAPI, Request
from fastapi_chassis import ChassisSettings, create_app, hookimpl

FLAGS = pathlib.Path(os.environ["DRAIN_TEST_FLAGS"])


async def slow(request: Request) -> dict[str, object]:
    (FLAGS / "started").touch()
    while not (FLAGS / "release").exists():
        await asyncio.sleep(0.01)
    # Ask this very application for readiness, from inside the in-flight request.
    transport = httpx.ASGITransport(app=request.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://in-process") as client:
        ready = await client.get("/health/ready")
    return {"draining": request.app.state.chassis.draining, "ready": ready.status_code}


class Slow:
    name = "test.slow"

    @hookimpl
    def chassis_configure_app(self, app: FastAPI) -> None:
        app.add_api_route("/slow", slow)

    @hookimpl
    def chassis_shutdown(self) -> None:
        (FLAGS / "lifespan-shutdown").write_text(repr(time.time()))


app = create_app(ChassisSettings(), plugins=[Slow()])
"""


class Server:
    """uvicorn serving the test application in a subprocess."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, flags: Path, log: Path):
        self.process = process
        self.port = port
        self.flags = flags
        self.log = log

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def get(
        self, path: str, connection: http.client.HTTPConnection | None = None
    ) -> tuple[int, bytes]:
        """GET ``path`` on ``connection``, or on a fresh connection closed afterwards."""
        conn = connection or self.connection()
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            if connection is None:
                conn.close()

    def wait_for_flag(self, name: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not (self.flags / name).exists():
            assert time.monotonic() < deadline, f"{name} never appeared\n{self.output()}"
            time.sleep(0.01)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def uvicorn_server(tmp_path: Path, database_url: str, delay: float) -> Iterator[Server]:
    (tmp_path / "drain_app.py").write_text(_APP_MODULE)
    flags = tmp_path / "flags"
    flags.mkdir()
    log = tmp_path / "server.log"
    port = _free_port()
    env = {
        **os.environ,
        "CHASSIS_DATABASE_URL": database_url,
        "CHASSIS_SHUTDOWN_DELAY_SECONDS": str(delay),
        "DRAIN_TEST_FLAGS": str(flags),
    }
    command = [
        sys.executable, "-m", "uvicorn", "drain_app:app",
        "--app-dir", str(tmp_path), "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    with log.open("wb") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=output)  # noqa: S603
    server = Server(process, port, flags, log)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, server.output()
            try:
                if server.get("/health/live")[0] == 200:
                    break
            except OSError:
                assert time.monotonic() < deadline, server.output()
                time.sleep(0.05)
        yield server
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def _refused(server: Server) -> bool:
    # A connection the kernel queued just before the listener closed is reset.
    try:
        server.get("/health/live")
    except (ConnectionRefusedError, ConnectionResetError, http.client.RemoteDisconnected):
        return True
    return False


def test_uvicorn_keeps_serving_through_the_delay_with_readiness_failing(
    tmp_path: Path, chassis_database_url: str
) -> None:
    delay = 2.0
    with (
        uvicorn_server(tmp_path, chassis_database_url, delay) as server,
        # A load balancer's pooled keep-alive connection, open before the signal.
        closing(server.connection()) as pooled,
        closing(server.connection()) as in_flight,
    ):
        assert server.get("/health/ready", pooled) == (200, b'{"status":"pass"}')
        pooled_socket = pooled.sock
        in_flight.request("GET", "/slow")
        server.wait_for_flag("started")

        server.process.send_signal(signal.SIGTERM)
        signalled = time.time()

        assert server.get("/health/ready", pooled) == (503, b'{"status":"fail"}')
        assert pooled.sock is pooled_socket
        assert server.get("/health/ready")[0] == 503  # a probe's fresh connection
        assert server.get("/health/live")[0] == 200
        assert server.get("/health/ready/database")[0] == 200
        (server.flags / "release").touch()
        response = in_flight.getresponse()
        assert response.status == 200
        assert json.loads(response.read()) == {"draining": True, "ready": 503}
        answered = time.time()

        returncode = server.process.wait(timeout=delay + 20)
        shut_down = float((server.flags / "lifespan-shutdown").read_text())
        assert answered < signalled + delay, "the checks took longer than the delay"
        assert shut_down >= signalled + delay, server.output()
        # uvicorn re-raises the signal it shut down for once it is done.
        assert returncode == -signal.SIGTERM, server.output()


def test_without_a_delay_uvicorn_drains_as_before_and_in_flight_requests_see_it(
    tmp_path: Path, chassis_database_url: str
) -> None:
    with (
        uvicorn_server(tmp_path, chassis_database_url, 0.0) as server,
        closing(server.connection()) as in_flight,
    ):
        in_flight.request("GET", "/slow")
        server.wait_for_flag("started")

        server.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        while not _refused(server):
            assert time.monotonic() < deadline, "uvicorn never stopped accepting connections"
            time.sleep(0.02)
        # uvicorn waits for the request in flight before the lifespan shutdown.
        time.sleep(0.5)
        assert not (server.flags / "lifespan-shutdown").exists()

        (server.flags / "release").touch()
        response = in_flight.getresponse()
        assert response.status == 200
        assert json.loads(response.read()) == {"draining": True, "ready": 503}
        assert server.process.wait(timeout=20) == -signal.SIGTERM, server.output()
        assert (server.flags / "lifespan-shutdown").exists()


def test_a_watch_left_behind_by_a_closed_loop_neither_holds_nor_hides_new_ones() -> None:
    told: list[str] = []

    async def leak() -> None:
        watch_termination(lambda: told.append("leaked"), delay=30)

    with recorded_sigterm():
        asyncio.run(leak())  # a start-up that failed: its watch is never stopped

    async def fresh() -> None:
        watch = watch_termination(lambda: told.append("fresh"))
        assert watch is not None
        try:
            signal.raise_signal(signal.SIGTERM)
        finally:
            watch.stop()

    with recorded_sigterm() as received:  # a new server, with its own handler
        asyncio.run(fresh())
    assert told == ["fresh"]
    assert received == [signal.SIGTERM]
