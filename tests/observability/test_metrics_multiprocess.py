"""Several worker processes, one set of totals: prometheus-client's multiprocess mode.

Every test runs in fresh Python processes: the mode is fixed when a process first
imports prometheus-client, and this test process runs in single-process mode.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from fastapi_chassis.observability.metrics_multiprocess import clear_dead_workers
from tests.observability.scrape import Exposition

ROUTE = "/items/{item_id}"
# Process probing reads /proc; uvicorn's workers are managed the POSIX way.
LINUX = pytest.mark.skipif(sys.platform != "linux", reason="needs Linux processes")


def _environment(**extra: str) -> dict[str, str]:
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in {"PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir"}
        and not name.startswith("CHASSIS_")
    }
    environment["PYTHONPATH"] = os.pathsep.join(
        [*extra.pop("PYTHONPATH", "").split(os.pathsep), *sys.path]
    )
    return {**environment, **extra}


def run_python(script: str, **environment: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", textwrap.dedent(script)],
        env=_environment(**environment),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# Runs one request and one scrape against an application, in process, and
# writes the exposition to the file named by SCRAPE_TO.
_REQUEST_AND_SCRAPE = """
import asyncio, httpx, os, pathlib

async def scrape(app):
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/docs")).status_code == 200
            text = (await client.get("/metrics")).text
    pathlib.Path(os.environ["SCRAPE_TO"]).write_text(text)
"""


def scraped(tmp_path: Path) -> Exposition:
    return Exposition.parse((tmp_path / "scrape.txt").read_text())


def test_the_setting_from_the_environment_turns_multiprocess_mode_on(tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    result = run_python(
        _REQUEST_AND_SCRAPE
        + """
import os
from fastapi_chassis import ChassisSettings, create_app

app = create_app(ChassisSettings(database_url=None, log_configure=False))
asyncio.run(scrape(app))
from prometheus_client import values
assert values.ValueClass is not values.MutexValue
assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == os.environ["CHASSIS_METRICS_MULTIPROCESS_DIR"]
""",
        CHASSIS_METRICS_MULTIPROCESS_DIR=str(directory),
        SCRAPE_TO=str(tmp_path / "scrape.txt"),
    )
    assert result.returncode == 0, result.stderr
    assert any(directory.glob("counter_*.db"))
    assert any(directory.glob("gauge_livesum_*.db"))
    assert scraped(tmp_path).total("http_requests_total") == 1


def test_the_setting_in_code_turns_multiprocess_mode_on(tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    result = run_python(
        _REQUEST_AND_SCRAPE
        + f"""
import sys
from fastapi_chassis import ChassisSettings, create_app

settings = ChassisSettings(
    database_url=None,
    log_configure=False,
    metrics_multiprocess_dir={str(directory)!r},
    # Loading the outbox plugin imports prometheus-client (its relay metrics).
    disabled_plugins=["chassis.outbox"],
)
app = create_app(settings)
assert "prometheus_client" not in sys.modules, "imported before the middleware was built"
asyncio.run(scrape(app))
""",
        SCRAPE_TO=str(tmp_path / "scrape.txt"),
    )
    assert result.returncode == 0, result.stderr
    assert any(directory.glob("counter_*.db"))
    assert scraped(tmp_path).total("http_requests_total") == 1


def test_the_environment_variable_turns_multiprocess_mode_on(tmp_path: Path) -> None:
    result = run_python(
        _REQUEST_AND_SCRAPE
        + """
from fastapi_chassis import ChassisSettings, create_app

app = create_app(ChassisSettings(database_url=None, log_configure=False))
asyncio.run(scrape(app))
""",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
        SCRAPE_TO=str(tmp_path / "scrape.txt"),
    )
    assert result.returncode == 0, result.stderr
    assert any((tmp_path / "metrics").glob("counter_*.db"))
    assert scraped(tmp_path).total("http_requests_total") == 1


def test_the_setting_after_prometheus_was_imported_is_refused(tmp_path: Path) -> None:
    result = run_python(
        f"""
import prometheus_client
from fastapi_chassis import ChassisSettings, create_app

create_app(ChassisSettings(
    database_url=None, log_configure=False, metrics_multiprocess_dir={str(tmp_path)!r}
))
"""
    )
    assert result.returncode != 0
    assert "PluginError" in result.stderr
    assert "prometheus_client was imported before" in result.stderr
    assert not any(tmp_path.iterdir())


def test_an_environment_variable_set_after_the_import_is_refused(tmp_path: Path) -> None:
    result = run_python(
        f"""
import os
import prometheus_client
from fastapi import FastAPI
from fastapi_chassis.api import MetricsMiddleware

os.environ["PROMETHEUS_MULTIPROC_DIR"] = {str(tmp_path)!r}
MetricsMiddleware(FastAPI())
"""
    )
    assert result.returncode != 0
    assert "ConfigurationError" in result.stderr
    assert "was set after prometheus_client was imported" in result.stderr


APP_MODULE = """
import asyncio
import os
from pathlib import Path

from fastapi import APIRouter

from fastapi_chassis import ChassisSettings, create_app, hookimpl
from fastapi_chassis.plugins import MiddlewareSpec

router = APIRouter()


@router.get("/items/{item_id}")
async def item(item_id: int) -> dict[str, int]:
    return {"id": item_id}


@router.get("/ping")
async def ping() -> dict[str, str]:
    return {"pong": "yes"}


@router.get("/held")
async def held() -> dict[str, str]:
    Path(os.environ["HELD_DIR"], str(os.getpid())).touch()
    await asyncio.sleep(60)
    return {"held": "too long"}


class WorkerHeader:
    def __init__(self, app):
        self.app = app
        self.header = (b"x-worker-pid", str(os.getpid()).encode())

    async def __call__(self, scope, receive, send):
        async def send_with_pid(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), self.header]
            await send(message)

        await self.app(scope, receive, send_with_pid)


class Routes:
    name = "test.routes"

    @hookimpl
    def chassis_middleware(self):
        return [MiddlewareSpec(WorkerHeader, order=10)]

    @hookimpl
    def chassis_configure_app(self, app):
        app.include_router(router)


app = create_app(ChassisSettings(database_url=None, log_configure=False), plugins=[Routes()])
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return "Z" not in Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[:1]


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Server:
    """``uvicorn --workers 2`` on the test app, spoken to over fresh TCP connections."""

    def __init__(self, port: int) -> None:
        # No keep-alive: every request opens a connection, which any worker may accept.
        self.http = httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            limits=httpx.Limits(max_keepalive_connections=0),
            timeout=10,
        )

    def get(self, path: str) -> tuple[int, httpx.Response]:
        response = self.http.get(path)
        return int(response.headers["x-worker-pid"]), response

    def scrape(self) -> tuple[int, Exposition]:
        pid, response = self.get("/metrics")
        assert response.status_code == 200
        return pid, Exposition.parse(response.text)

    def workers(self, attempts: int = 400) -> set[int]:
        """The workers answering now (both, given enough connections)."""
        seen: set[int] = set()
        for _ in range(attempts):
            seen.add(self.get("/ping")[0])
            if len(seen) == 2:
                break
        return seen


@contextmanager
def uvicorn_workers(tmp_path: Path, metrics: Path) -> Iterator[Server]:
    (tmp_path / "worker_app.py").write_text(APP_MODULE)
    port = _free_port()
    arguments = "--host 127.0.0.1 --workers 2 --log-level warning --timeout-graceful-shutdown 2"
    process = subprocess.Popen(  # noqa: S603 - our own interpreter
        [
            sys.executable,
            "-m",
            "uvicorn",
            "worker_app:app",
            "--port",
            str(port),
            *arguments.split(),
        ],
        cwd=tmp_path,
        env=_environment(
            PYTHONPATH=str(tmp_path),
            CHASSIS_METRICS_MULTIPROCESS_DIR=str(metrics),
            HELD_DIR=str(tmp_path / "held"),
        ),
    )
    server = Server(port)
    try:
        _wait_for(lambda: _answers(server), "uvicorn to start", timeout=60)
        yield server
    finally:
        server.http.close()
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _answers(server: Server) -> bool:
    try:
        return server.get("/ping")[1].status_code == 200
    except httpx.TransportError:
        return False


@LINUX
def test_two_uvicorn_workers_report_exact_totals_and_drop_stopped_workers_gauges(
    tmp_path: Path,
) -> None:
    metrics = tmp_path / "metrics"
    (tmp_path / "held").mkdir()
    with uvicorn_workers(tmp_path, metrics) as server:
        # Every request on a new connection, until both workers have answered.
        answered: dict[int, int] = {}
        sent = 0
        while sent < 100 or len(answered) < 2:
            assert sent < 2000, f"only workers {answered} answered"
            pid, response = server.get(f"/items/{sent}")
            assert response.status_code == 200
            answered[pid] = answered.get(pid, 0) + 1
            sent += 1

        # Whichever worker answers the scrape, the total is every worker's.
        scraped_by: set[int] = set()
        for _ in range(400):
            pid, exposition = server.scrape()
            scraped_by.add(pid)
            assert exposition.total("http_requests_total", route=ROUTE) == sent
            assert exposition.total("http_request_duration_seconds_count", route=ROUTE) == sent
            assert exposition.total("http_requests_in_progress") == 0
            if len(scraped_by) == 2:
                break
        assert len(scraped_by) == 2, "one worker answered every scrape"

        # A worker killed in the middle of a request leaves a live gauge at 1 ...
        with ThreadPoolExecutor(1) as pool:
            held: Future[httpx.Response] = pool.submit(server.http.get, "/held")
            _wait_for(lambda: any((tmp_path / "held").iterdir()), "the held request")
            victim = int(next((tmp_path / "held").iterdir()).name)
            assert server.scrape()[1].total("http_requests_in_progress", method="GET") == 1
            assert (metrics / f"gauge_livesum_{victim}.db").exists()
            os.kill(victim, signal.SIGKILL)
            with pytest.raises(httpx.TransportError):
                held.result(timeout=30)

        # ... which the next scrape after the server reaps it no longer counts.
        def victim_forgotten() -> bool:
            _, exposition = server.scrape()
            return exposition.total("http_requests_in_progress") == 0

        _wait_for(victim_forgotten, "the killed worker's gauge to go")
        assert not (metrics / f"gauge_livesum_{victim}.db").exists()
        # Its counts stay in the totals.
        _, exposition = server.scrape()
        assert exposition.total("http_requests_total", route=ROUTE) == sent

        # A worker stopped gracefully removes its own live gauges as it exits.
        _wait_for(lambda: len(server.workers()) == 2, "the replacement worker")
        stopped = min(server.workers())
        assert (metrics / f"gauge_livesum_{stopped}.db").exists()
        os.kill(stopped, signal.SIGTERM)
        _wait_for(lambda: not _running(stopped), "the stopped worker to exit")
        assert not (metrics / f"gauge_livesum_{stopped}.db").exists()
        assert any(metrics.glob(f"*_{stopped}.db"))  # counters and histograms stay


@LINUX
def test_clear_dead_workers_keeps_live_and_own_files(tmp_path: Path) -> None:
    gone = _gone_pid()
    for pid in (os.getpid(), os.getppid(), gone):
        (tmp_path / f"gauge_livesum_{pid}.db").touch()
        (tmp_path / f"counter_{pid}.db").touch()
    (tmp_path / "gauge_livesum_notapid.db").touch()

    assert clear_dead_workers(tmp_path) == [gone]

    remaining = {path.name for path in tmp_path.iterdir()}
    assert f"gauge_livesum_{gone}.db" not in remaining
    assert {f"gauge_livesum_{os.getpid()}.db", f"gauge_livesum_{os.getppid()}.db"} <= remaining
    assert f"counter_{gone}.db" in remaining


def _gone_pid() -> int:
    process = subprocess.Popen(["true"])  # noqa: S607 - a process that is gone at once
    process.wait()
    return process.pid
