"""``shop demo`` from the outside: a process that serves a seeded shop, then stops.

Each test runs the real command in a subprocess, with a small scale, and talks
to it over HTTP, as a user following the README would.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi_chassis.testing.postgres import ServerHandle, with_database

pytestmark = pytest.mark.slow

STARTUP_SECONDS = 180


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextmanager
def demo(
    environment: dict[str, str], *arguments: str
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Run ``shop demo`` until it is ready; stop it with Ctrl+C afterwards."""
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "CHASSIS_DATABASE_URL"}
    }
    env.update({"SHOP_DEMO_SCALE": "300", "CHASSIS_LOG_JSON": "true", **environment})
    process = subprocess.Popen(  # noqa: S603 - this interpreter, our module
        [sys.executable, "-m", "shop", "demo", "--port", str(port), *arguments],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            assert process.poll() is None, process.communicate()[0]
            try:
                if httpx.get(f"{base}/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the demo did not become ready"
            time.sleep(0.3)
        yield base, process
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise


def assert_serves_the_shop(base: str) -> None:
    assert httpx.get(f"{base}/docs").status_code == 200
    assert "http_requests_total" in httpx.get(f"{base}/metrics").text
    orders = httpx.get(f"{base}/orders", params={"limit": 5}).json()
    assert len(orders["items"]) == 5
    products = httpx.get(f"{base}/products", headers={"X-API-Version": "2"}).json()
    assert products["items"][0]["price"]["currency"] == "EUR"


def test_the_demo_migrates_seeds_and_serves_a_configured_database(
    chassis_postgres: ServerHandle,
) -> None:
    with with_database(chassis_postgres.url, prefix="shop_demo") as url:
        with demo({"DATABASE_URL": url}) as (base, process):
            assert_serves_the_shop(base)
        output = process.communicate()[0]
        assert process.returncode == 0, output
        assert "Loaded" in output

        # The second start finds the data and leaves it alone.
        with demo({"DATABASE_URL": url}) as (base, process):
            assert_serves_the_shop(base)
        assert "has data already" in process.communicate()[0]


def test_without_a_database_the_demo_runs_an_embedded_one(tmp_path: Path) -> None:
    data = tmp_path / "postgres"
    with demo({"SHOP_DEMO_DATA_DIR": str(data)}) as (base, process):
        assert_serves_the_shop(base)
        assert (data / "postmaster.pid").exists()
    output = process.communicate()[0]
    assert process.returncode == 0, output
    # The server stopped with the demo and kept its data for the next start.
    assert not (data / "postmaster.pid").exists()
    assert (data / "PG_VERSION").exists()
