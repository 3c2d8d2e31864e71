"""Capturing log lines as the JSON output would carry them."""

from __future__ import annotations

import io
import json
import logging
from typing import TYPE_CHECKING

import pytest
import structlog

from fastapi_chassis.context import request_context
from fastapi_chassis.observability import configure_logging
from fastapi_chassis.observability import logging as chassis_logging
from fastapi_chassis.observability.access_log import ACCESS_LOGGER
from fastapi_chassis.observability.logging import write_event
from fastapi_chassis.testing.logs import CapturedLogs, capturing_logs

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Put logging back as it was: these tests change process-wide state."""
    root = logging.getLogger()
    root_state = (list(root.handlers), root.level)
    config = structlog.get_config()
    processors = list(config["processors"])
    installation = chassis_logging._installation
    yield
    root.handlers[:] = root_state[0]
    root.setLevel(root_state[1])
    config["processors"][:] = processors
    structlog.configure(**config)
    chassis_logging._installation = installation


@pytest.fixture
def output() -> io.StringIO:
    """What the chassis configuration writes, to compare the captured lines with."""
    stream = io.StringIO()
    configure_logging(json=True, level="INFO", stream=stream)
    return stream


def written(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def without_time(line: dict[str, object]) -> dict[str, object]:
    return {key: value for key, value in line.items() if key != "timestamp"}


def test_captured_lines_are_the_json_lines_as_dicts(output: io.StringIO) -> None:
    with capturing_logs() as logs, request_context(correlation_id="c-1", actor="alice"):
        structlog.get_logger("shop").info("order placed", order_id=7)
        logging.getLogger("shop.stdlib").warning("stock low for %s", "mug", extra={"sku": "M-1"})
        write_event(
            logging.getLogger(ACCESS_LOGGER), logging.INFO, {"event": "request", "status": 201}
        )

    lines = written(output)
    assert len(lines) == 3
    # A standard-library record is stamped by each handler it reaches, microseconds apart.
    assert [without_time(line) for line in logs] == [without_time(line) for line in lines]
    assert logs[0]["timestamp"] == lines[0]["timestamp"]
    assert logs[0] == {
        "event": "order placed",
        "order_id": 7,
        "logger": "shop",
        "level": "info",
        "correlation_id": "c-1",
        "actor": "alice",
        "timestamp": lines[0]["timestamp"],
    }
    assert logs[1]["event"] == "stock low for mug"
    assert logs[1]["sku"] == "M-1"
    assert logs[1]["level"] == "warning"
    assert logs.access_lines() == [lines[2]]


def test_levels_apply_as_they_do_to_the_output(output: io.StringIO) -> None:
    with capturing_logs() as logs:
        structlog.get_logger("shop").debug("too detailed")
        logging.getLogger("shop").debug("also too detailed")
        structlog.get_logger("shop").info("kept")

    assert logs.events == ["kept"]
    assert written(output) == list(logs)
    assert logs.lines == list(logs)


def test_exceptions_are_rendered_as_in_the_json_output(output: io.StringIO) -> None:
    def look_up() -> None:
        raise LookupError("no such order")

    with capturing_logs() as logs:
        try:
            look_up()
        except LookupError:
            structlog.get_logger("shop").exception("lookup failed")

    (line,) = logs
    assert line == written(output)[0]
    exception = line["exception"]
    assert isinstance(exception, list)
    assert exception[0]["exc_type"] == "LookupError"


def test_without_the_chassis_configuration_structlog_lines_are_still_captured() -> None:
    structlog.reset_defaults()
    processors = structlog.get_config()["processors"]
    before = list(processors)

    with capturing_logs() as logs:
        structlog.get_logger().info("plain structlog", answer=42)

    assert logs.where(event="plain structlog", answer=42)
    assert structlog.get_config()["processors"] == before


def test_lines_after_the_block_are_not_captured(output: io.StringIO) -> None:
    with capturing_logs() as logs:
        structlog.get_logger("shop").info("inside")
    structlog.get_logger("shop").info("outside")

    assert logs.events == ["inside"]
    assert len(written(output)) == 2


def test_assertions_say_what_was_written() -> None:
    logs = CapturedLogs([{"event": "a", "level": "info"}, {"event": "b", "level": "error"}])

    assert logs.assert_logged("b", level="error") == {"event": "b", "level": "error"}
    assert logs.where(level="info") == [{"event": "a", "level": "info"}]
    with pytest.raises(AssertionError, match="no log line 'c'") as caught:
        logs.assert_logged("c")
    assert "'event': 'a'" in str(caught.value)
    logs.clear()
    assert len(logs) == 0
