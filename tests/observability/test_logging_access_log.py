"""The access line and the error record, through real applications on the test database."""

from __future__ import annotations

import asyncio
import json
import logging
import logging.config
from typing import Any

import pytest
import structlog
from fastapi import APIRouter, BackgroundTasks, FastAPI
from sqlalchemy import text
from starlette.types import ASGIApp, Receive, Scope, Send
from structlog.testing import capture_logs
from uvicorn.config import LOGGING_CONFIG

from fastapi_chassis import hookimpl
from fastapi_chassis.api import SessionDep
from fastapi_chassis.api.facts import RequestFacts
from fastapi_chassis.context import set_actor
from fastapi_chassis.observability.access_log import ACCESS_LOGGER, ERROR_LOGGER, AccessLog
from fastapi_chassis.plugins.contributions import MiddlewareOrder, MiddlewareSpec
from tests.api.conftest import AppFactory, make_app, running, settings  # noqa: F401
from tests.observability.test_logging import restore_logging  # noqa: F401


class OrderLookupFailed(Exception):
    pass


class ShopPlugin:
    name = "test.logging-shop"

    def __init__(self) -> None:
        self.router = APIRouter()
        router = self.router

        @router.get("/orders/{order_id}")
        async def read(order_id: int, session: SessionDep) -> dict[str, int]:
            structlog.get_logger("shop").info("reading order", order_id=order_id)
            logging.getLogger("shop.stdlib").warning("stdlib line for order %d", order_id)
            logging.getLogger("sqlalchemy.pool").warning("a driver's line")
            await session.execute(text("SELECT 1"))
            return {"id": order_id}

        @router.get("/quiet")
        async def quiet() -> dict[str, bool]:
            return {"quiet": True}

        @router.get("/later")
        async def later(tasks: BackgroundTasks) -> dict[str, bool]:
            tasks.add_task(asyncio.sleep, 0.3)
            return {"queued": True}

        @router.post("/orders/{order_id}/fail")
        async def fail(order_id: int) -> None:
            set_actor("alice")
            try:
                {"present": 1}["missing"]
            except KeyError as error:
                raise OrderLookupFailed(f"order {order_id} is gone") from error

    @hookimpl
    def chassis_routers(self, version: str) -> list[APIRouter]:
        return [self.router] if version == "1" else []


def stderr_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().err.splitlines()]


def by_logger(lines: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [line for line in lines if line["logger"] == name]


@pytest.mark.asyncio
async def test_each_request_writes_exactly_one_access_line(
    make_app: AppFactory,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with running(make_app([ShopPlugin()])) as client:
        capsys.readouterr()
        responses = [
            await client.get("/orders/7"),
            await client.get("/nowhere"),
            await client.get("/orders/not-a-number"),
        ]
        lines = stderr_lines(capsys)

    access = by_logger(lines, ACCESS_LOGGER)
    assert [(line["path"], line["status"]) for line in access] == [
        ("/orders/7", 200),
        ("/nowhere", 404),
        ("/orders/not-a-number", 422),
    ]
    assert [line["route"] for line in access] == [
        "/orders/{order_id}",
        "<unmatched>",
        "/orders/{order_id}",
    ]
    for line, response in zip(access, responses, strict=True):
        assert line["event"] == "request"
        assert line["level"] == "info"
        assert line["method"] == "GET"
        assert line["correlation_id"] == response.headers["x-correlation-id"]
        assert line.get("api_version") == response.headers.get("x-api-version")
        assert isinstance(line["duration_ms"], float)
        assert line["duration_ms"] >= 0


@pytest.mark.asyncio
async def test_lines_written_inside_an_endpoint_carry_the_correlation_id(
    make_app: AppFactory,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with running(make_app([ShopPlugin()])) as client:
        capsys.readouterr()
        await client.get("/orders/7", headers={"X-Correlation-ID": "c-77"})
        lines = stderr_lines(capsys)

    from_the_request = [
        line for line in lines if line["logger"] in {"shop", "shop.stdlib", "sqlalchemy.pool"}
    ]
    assert [line["event"] for line in from_the_request] == [
        "reading order",
        "stdlib line for order 7",
        "a driver's line",
    ]
    assert {line["correlation_id"] for line in from_the_request} == {"c-77"}
    assert by_logger(lines, ACCESS_LOGGER)[0]["correlation_id"] == "c-77"


@pytest.mark.asyncio
async def test_the_access_line_reports_database_work_when_there_was_some(
    make_app: AppFactory,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with running(make_app([ShopPlugin()])) as client:
        capsys.readouterr()
        await client.get("/orders/7")
        await client.get("/quiet")
        with_query, quiet = by_logger(stderr_lines(capsys), ACCESS_LOGGER)

    assert isinstance(with_query["db_queries"], int)
    assert with_query["db_queries"] >= 1
    assert isinstance(with_query["db_time_ms"], float)
    assert with_query["db_time_ms"] > 0
    assert "db_queries" not in quiet
    assert "db_time_ms" not in quiet


@pytest.mark.asyncio
async def test_an_unhandled_exception_is_logged_once_with_its_context_and_chain(
    make_app: AppFactory,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with running(make_app([ShopPlugin()])) as client:
        capsys.readouterr()
        caplog.clear()
        response = await client.post("/orders/7/fail", headers={"X-Correlation-ID": "c-500"})
        lines = stderr_lines(capsys)

    assert response.status_code == 500
    assert "gone" not in response.text
    errors = [line for line in lines if line["level"] in {"error", "critical"}]
    assert len(errors) == 1
    error = errors[0]
    assert error["logger"] == ERROR_LOGGER
    assert error["event"] == "request failed"
    assert error["correlation_id"] == "c-500"
    assert error["actor"] == "alice"
    assert error["route"] == "/orders/{order_id}/fail"
    assert error["method"] == "POST"
    assert error["status"] == 500
    raised, cause = error["exception"]
    assert raised["exc_type"] == "OrderLookupFailed"
    assert raised["exc_value"] == "order 7 is gone"
    assert raised["frames"][-1]["name"] == "fail"
    assert cause["exc_type"] == "KeyError"
    assert cause["is_cause"] is True
    access = by_logger(lines, ACCESS_LOGGER)
    assert len(access) == 1
    assert access[0]["status"] == 500
    assert access[0]["actor"] == "alice"
    assert [record.name for record in caplog.records if record.levelno >= logging.ERROR] == [
        ERROR_LOGGER
    ]


@pytest.mark.asyncio
async def test_startup_takes_back_the_loggers_a_server_configured_after_the_build(
    make_app: AppFactory,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = make_app([ShopPlugin()])
    # uvicorn.run(app) configures its loggers after the application was built.
    logging.config.dictConfig(LOGGING_CONFIG)
    async with running(app) as client:
        capsys.readouterr()
        logging.getLogger("uvicorn.error").info("after startup")
        await client.get("/quiet")
        lines = stderr_lines(capsys)

    assert [line["event"] for line in by_logger(lines, "uvicorn.error")] == ["after startup"]
    assert len(by_logger(lines, ACCESS_LOGGER)) == 1
    assert not logging.getLogger("uvicorn.access").hasHandlers()


class BrokenLayer:
    """A plugin middleware that fails outside Starlette's error handling."""

    name = "test.broken-layer"

    @hookimpl
    def chassis_middleware(self) -> list[MiddlewareSpec]:
        async def broken(scope: Scope, receive: Receive, send: Send) -> None:
            raise RuntimeError("the layer broke")

        def wrap(app: ASGIApp) -> ASGIApp:
            async def layer(scope: Scope, receive: Receive, send: Send) -> None:
                if scope["type"] == "http" and scope["path"] == "/quiet":
                    await broken(scope, receive, send)
                    return
                await app(scope, receive, send)

            return layer

        return [MiddlewareSpec(wrap, order=MiddlewareOrder.CORRELATION + 1)]


@pytest.mark.asyncio
async def test_a_failure_outside_the_application_is_answered_and_logged_once(
    make_app: AppFactory,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with running(make_app([ShopPlugin(), BrokenLayer()])) as client:
        capsys.readouterr()
        response = await client.get("/quiet", headers={"X-Correlation-ID": "c-layer"})
        lines = stderr_lines(capsys)

    assert response.status_code == 500
    assert response.headers.get_list("x-correlation-id") == ["c-layer"]
    assert response.json()["correlation_id"] == "c-layer"
    errors = [line for line in lines if line["level"] == "error"]
    assert [(line["event"], line["correlation_id"]) for line in errors] == [
        ("request failed", "c-layer")
    ]
    assert errors[0]["exception"][0]["exc_value"] == "the layer broke"
    access = by_logger(lines, ACCESS_LOGGER)
    assert [(line["status"], line["correlation_id"]) for line in access] == [(500, "c-layer")]


@pytest.mark.asyncio
async def test_access_lines_follow_the_level_of_their_logger(
    make_app: AppFactory,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    access_logger = logging.getLogger(ACCESS_LOGGER)
    async with running(make_app([ShopPlugin()])) as client:
        access_logger.setLevel(logging.WARNING)
        try:
            capsys.readouterr()
            await client.get("/quiet")
            await client.post("/orders/1/fail")
            lines = stderr_lines(capsys)
        finally:
            access_logger.setLevel(logging.NOTSET)

    assert by_logger(lines, ACCESS_LOGGER) == []
    assert len(by_logger(lines, ERROR_LOGGER)) == 1


@pytest.mark.asyncio
async def test_the_settings_choose_format_and_level(
    make_app: AppFactory,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = make_app([ShopPlugin()], log_json=False, log_level="WARNING")
    async with running(app) as client:
        capsys.readouterr()
        await client.get("/orders/7", headers={"X-Correlation-ID": "c-console"})
        output = capsys.readouterr().err

    assert logging.getLogger().level == logging.WARNING
    assert "stdlib line for order 7" in output
    assert "correlation_id=c-console" in output
    assert "reading order" not in output  # INFO, below the level
    assert not output.lstrip().startswith("{")


@pytest.mark.asyncio
async def test_with_log_configure_off_logging_is_left_alone(
    make_app: AppFactory,  # noqa: F811
) -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    processors = list(structlog.get_config()["processors"])

    app = make_app([ShopPlugin()], log_configure=False)
    async with running(app) as client:
        with capture_logs() as captured:
            await client.get("/quiet", headers={"X-Correlation-ID": "c-own"})

    assert root.handlers == handlers
    assert root.level == level
    assert list(structlog.get_config()["processors"]) == processors
    access = [entry for entry in captured if entry["event"] == "request"]
    assert len(access) == 1
    assert access[0]["route"] == "/quiet"
    assert access[0]["correlation_id"] == "c-own"


@pytest.mark.asyncio
async def test_structlog_capture_logs_sees_the_access_line(
    make_app: AppFactory,  # noqa: F811
) -> None:
    async with running(make_app([ShopPlugin()])) as client:
        with capture_logs() as captured:
            await client.get("/quiet", headers={"X-Correlation-ID": "c-cap"})

    access = [entry for entry in captured if entry["event"] == "request"]
    assert access == [
        {
            "event": "request",
            "method": "GET",
            "path": "/quiet",
            "route": "/quiet",
            "status": 200,
            "duration_ms": access[0]["duration_ms"],
            "correlation_id": "c-cap",
            **({"api_version": access[0]["api_version"]} if "api_version" in access[0] else {}),
            "log_level": "info",
        }
    ]


@pytest.mark.asyncio
async def test_disabling_the_plugin_removes_the_access_line(
    make_app: AppFactory,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = make_app([ShopPlugin()], disabled_plugins=["chassis.logging"])
    async with running(app) as client:
        capsys.readouterr()
        response = await client.get("/quiet")
        output = capsys.readouterr().err

    assert response.status_code == 200
    assert ACCESS_LOGGER not in output


@pytest.mark.asyncio
async def test_the_duration_ends_with_the_response_not_the_background_tasks(
    make_app: AppFactory,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with running(make_app([ShopPlugin()])) as client:
        capsys.readouterr()
        assert (await client.get("/later")).status_code == 200
        (line,) = by_logger(stderr_lines(capsys), ACCESS_LOGGER)
    assert line["route"] == "/later"
    assert line["duration_ms"] < 300


class LateMount:
    name = "test.late-mount"

    @hookimpl
    def chassis_startup(self, app: FastAPI) -> None:
        tenant = FastAPI()

        @tenant.get("/items/{item_id}")
        async def item(item_id: int) -> dict[str, int]:
            return {"id": item_id}

        app.mount("/tenants/{tenant}", tenant)


@pytest.mark.asyncio
async def test_a_mount_added_at_start_up_reports_its_template_without_metrics(
    make_app: AppFactory,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = make_app([LateMount()], disabled_plugins=["chassis.metrics"])
    async with running(app) as client:
        capsys.readouterr()
        assert (await client.get("/tenants/acme/items/3")).status_code == 200
        (line,) = by_logger(stderr_lines(capsys), ACCESS_LOGGER)
    assert line["route"] == "/tenants/{tenant}/items/{item_id}"


def test_durations_are_logged_in_milliseconds_to_the_microsecond() -> None:
    facts = RequestFacts(method="GET", path="/orders/7")
    facts.status = 200
    facts.duration = 0.00123456
    facts.db_queries = 2
    facts.db_time = 0.0000004

    with capture_logs() as captured:
        AccessLog()(facts)

    (line,) = captured
    assert line["duration_ms"] == 1.235
    assert line["db_time_ms"] == 0.0
