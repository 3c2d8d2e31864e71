"""A real uvicorn server: what reaches its output for a failing request, and only that."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

APP = textwrap.dedent(
    """
    import logging

    import structlog
    from fastapi import APIRouter

    from fastapi_chassis import ChassisSettings, create_app, hookimpl
    from fastapi_chassis.context import set_actor

    router = APIRouter()


    class PaymentDeclined(Exception):
        pass


    @router.post("/orders/{order_id}/pay")
    async def pay(order_id: int) -> None:
        structlog.get_logger("shop").info("charging", order_id=order_id)
        logging.getLogger("shop.gateway").warning("gateway slow for order %d", order_id)
        set_actor("alice")
        try:
            raise ConnectionError("gateway unreachable")
        except ConnectionError as error:
            raise PaymentDeclined(f"order {order_id} not charged") from error


    @router.get("/orders/{order_id}")
    async def read(order_id: int) -> dict[str, int]:
        return {"id": order_id}


    class Shop:
        @hookimpl
        def chassis_routers(self) -> list[APIRouter]:
            return [router]


    app = create_app(ChassisSettings.model_validate({"service_name": "e2e"}), plugins=[Shop()])
    """
)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[httpx.Client, subprocess.Popen[str]]]:
    """uvicorn with its default options (access log on) serving the app on a socket."""
    (tmp_path / "e2e_app.py").write_text(APP)
    socket_path = tmp_path / "uvicorn.sock"
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("CHASSIS_")
    }
    environment.pop("DATABASE_URL", None)
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [
            sys.executable,
            "-m",
            "uvicorn",
            "e2e_app:app",
            "--app-dir",
            str(tmp_path),
            "--uds",
            str(socket_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
        cwd=tmp_path,
    )
    client = httpx.Client(
        transport=httpx.HTTPTransport(uds=str(socket_path)), base_url="http://shop"
    )
    try:
        # uvicorn binds the socket once the application has started.
        deadline = time.monotonic() + 30
        while not socket_path.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"uvicorn did not start: {process.communicate()}")
            time.sleep(0.05)
        yield client, process
    finally:
        client.close()
        if process.poll() is None:
            process.kill()
            process.communicate()


def stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    return stdout, stderr


def test_a_failing_request_gives_one_error_record_one_access_line_and_nothing_else(
    server: tuple[httpx.Client, subprocess.Popen[str]],
) -> None:
    client, process = server

    failed = client.post("/orders/7/pay", headers={"X-Correlation-ID": "e2e-500"})
    served = client.get("/orders/8", headers={"X-Correlation-ID": "e2e-200"})
    stdout, stderr = stop(process)

    assert failed.status_code == 500
    assert served.status_code == 200
    assert "not charged" not in failed.text
    # Every line either stream carries is one of ours, in JSON: uvicorn's own
    # lines included, and no traceback printed around them.
    assert stdout == ""
    lines = [json.loads(line) for line in stderr.splitlines()]
    assert {line["logger"] for line in lines} >= {"uvicorn.error", "fastapi_chassis.access"}
    assert not [line for line in lines if line["logger"] == "uvicorn.access"]
    assert "Exception in ASGI application" not in stderr

    errors = [line for line in lines if line["level"] in {"error", "critical"}]
    assert len(errors) == 1
    error = errors[0]
    assert error["event"] == "request failed"
    assert error["correlation_id"] == "e2e-500"
    assert error["actor"] == "alice"
    assert error["route"] == "/orders/{order_id}/pay"
    raised, cause = error["exception"]
    assert (raised["exc_type"], raised["exc_value"]) == ("PaymentDeclined", "order 7 not charged")
    assert raised["frames"][-1]["name"] == "pay"
    assert (cause["exc_type"], cause["is_cause"]) == ("ConnectionError", True)

    access = [line for line in lines if line["logger"] == "fastapi_chassis.access"]
    by_correlation_id = {line["correlation_id"]: line for line in access}
    assert [line["correlation_id"] for line in access].count("e2e-500") == 1
    assert [line["correlation_id"] for line in access].count("e2e-200") == 1
    assert by_correlation_id["e2e-500"]["status"] == 500
    assert by_correlation_id["e2e-200"]["route"] == "/orders/{order_id}"

    inside = [line for line in lines if line["logger"] in {"shop", "shop.gateway"}]
    assert [line["event"] for line in inside] == ["charging", "gateway slow for order 7"]
    assert {line["correlation_id"] for line in inside} == {"e2e-500"}
