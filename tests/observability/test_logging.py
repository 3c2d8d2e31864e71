from __future__ import annotations

import asyncio
import io
import json
import logging
import logging.config
import os
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs
from typing_extensions import override

from fastapi_chassis.context import request_context
from fastapi_chassis.observability import configure_logging, log_output
from fastapi_chassis.observability import logging as chassis_logging
from fastapi_chassis.observability.log_output import render_json
from fastapi_chassis.observability.logging import write_event

_TOUCHED_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "sqlalchemy", "asyncpg")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Put logging back as it was: configure_logging changes process-wide state."""
    root = logging.getLogger()
    root_state = (list(root.handlers), root.level)
    loggers = {
        name: (list(logger.handlers), logger.level, logger.propagate)
        for name in _TOUCHED_LOGGERS
        for logger in [logging.getLogger(name)]
    }
    config = structlog.get_config()
    processors = list(config["processors"])
    installation = chassis_logging._installation
    yield
    root.handlers[:] = root_state[0]
    root.setLevel(root_state[1])
    for name, (handlers, level, propagate) in loggers.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate
    config["processors"][:] = processors
    structlog.configure(**config)
    chassis_logging._installation = installation


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_structlog_and_stdlib_lines_share_one_json_shape() -> None:
    stream = io.StringIO()
    configure_logging(stream=stream)

    structlog.get_logger("shop.orders").info("order placed", order_id=42)
    logging.getLogger("shop.payments").warning("card %s declined", "4242", extra={"amount": 12})

    placed, declined = lines(stream)
    assert set(placed) == {"event", "order_id", "logger", "level", "timestamp"}
    # pytest's own handler formatted the record first: nothing of that leaks in.
    assert set(declined) == {"event", "amount", "logger", "level", "timestamp"}
    assert placed["event"] == "order placed"
    assert placed["order_id"] == 42
    assert placed["logger"] == "shop.orders"
    assert placed["level"] == "info"
    assert declined["event"] == "card 4242 declined"
    assert declined["amount"] == 12
    assert declined["logger"] == "shop.payments"
    assert declined["level"] == "warning"
    for line in (placed, declined):
        stamp = str(line["timestamp"])
        assert stamp.endswith("Z")
        assert datetime.fromisoformat(stamp.replace("Z", "+00:00")).tzinfo is not None


@pytest.mark.parametrize(
    "logger_name", ["uvicorn.error", "sqlalchemy.engine", "asyncpg.pool", "fastapi_chassis.x"]
)
def test_every_line_carries_the_request_context(logger_name: str) -> None:
    stream = io.StringIO()
    configure_logging(stream=stream)

    with request_context(correlation_id="c-1", actor="alice", trace_id="ab" * 16):
        logging.getLogger(logger_name).warning("from the standard library")
        structlog.get_logger().warning("from structlog")
    structlog.get_logger().warning("outside any request")

    stdlib_line, structlog_line, outside = lines(stream)
    for line in (stdlib_line, structlog_line):
        assert line["correlation_id"] == "c-1"
        assert line["actor"] == "alice"
        assert line["trace_id"] == "ab" * 16
    assert stdlib_line["logger"] == logger_name
    assert "correlation_id" not in outside
    assert "actor" not in outside


def test_fields_passed_explicitly_win_over_the_context() -> None:
    stream = io.StringIO()
    configure_logging(stream=stream)

    with request_context(correlation_id="current"):
        structlog.get_logger().info("finished", correlation_id="the request's own")

    assert lines(stream)[0]["correlation_id"] == "the request's own"


def test_context_bound_with_structlog_contextvars_is_kept() -> None:
    stream = io.StringIO()
    configure_logging(stream=stream)

    structlog.contextvars.bind_contextvars(tenant="acme")
    try:
        logging.getLogger("app").warning("stdlib")
        structlog.get_logger().info("structlog")
    finally:
        structlog.contextvars.clear_contextvars()

    assert [line["tenant"] for line in lines(stream)] == ["acme", "acme"]


def test_an_exception_is_rendered_with_its_chain_and_no_local_variables() -> None:
    stream = io.StringIO()
    configure_logging(stream=stream)

    def fail() -> None:
        password = "hunter2"  # noqa: S105 - a local variable that logs must not show  # pragma: allowlist secret
        try:
            {password: 1}["missing"]
        except KeyError as error:
            raise RuntimeError("lookup failed") from error

    try:
        fail()
    except RuntimeError:
        logging.getLogger("app").exception("stdlib saw it")
        structlog.get_logger().exception("structlog saw it")

    for line in lines(stream):
        outer, cause = line["exception"]
        assert outer["exc_type"] == "RuntimeError"
        assert outer["exc_value"] == "lookup failed"
        assert cause["exc_type"] == "KeyError"
        assert cause["is_cause"] is True
        assert [frame["name"] for frame in cause["frames"]] == ["fail"]
    assert "hunter2" not in stream.getvalue()


def test_a_second_call_replaces_the_first_and_keeps_other_handlers() -> None:
    others = logging.StreamHandler(io.StringIO())
    logging.getLogger().addHandler(others)
    first, second = io.StringIO(), io.StringIO()

    configure_logging(stream=first)
    configure_logging(stream=second)
    logging.getLogger("app").warning("once")

    assert first.getvalue() == ""
    assert [line["event"] for line in lines(second)] == ["once"]
    chassis_handlers = [
        handler
        for handler in logging.getLogger().handlers
        if type(handler).__name__ == "LineHandler"
    ]
    assert len(chassis_handlers) == 1
    assert others in logging.getLogger().handlers
    assert "once" in others.stream.getvalue()


def test_loggers_cached_before_a_reconfiguration_follow_it() -> None:
    configure_logging(stream=io.StringIO())
    logger = structlog.get_logger("cached")
    logger.info("first use caches the logger")
    console = io.StringIO()

    configure_logging(json=False, stream=console)
    logger.info("after", item=3)

    assert "after" in console.getvalue()
    assert "item=3" in console.getvalue()


def test_console_mode_is_readable_and_keeps_the_context() -> None:
    stream = io.StringIO()
    configure_logging(json=False, stream=stream)

    with request_context(correlation_id="c-9"):
        structlog.get_logger("shop").info("order placed", order_id=7)
        logging.getLogger("uvicorn.error").info("server line")

    text = stream.getvalue()
    first, second = text.splitlines()
    assert "order placed" in first
    assert "order_id=7" in first
    assert "correlation_id=c-9" in first
    assert "server line" in second
    assert "correlation_id=c-9" in second
    assert not first.lstrip().startswith("{")
    assert "\x1b[" not in text  # no colours on a stream that is not a terminal


def test_the_level_applies_to_both_kinds_of_logger() -> None:
    stream = io.StringIO()
    configure_logging(level="WARNING", stream=stream)

    structlog.get_logger().info("dropped")
    logging.getLogger("app").info("dropped too")
    structlog.get_logger().warning("kept")
    logging.getLogger("app").error("kept too")

    assert [line["event"] for line in lines(stream)] == ["kept", "kept too"]


def test_uvicorn_loggers_are_taken_over_and_its_access_log_silenced() -> None:
    from uvicorn.config import LOGGING_CONFIG

    logging.config.dictConfig(LOGGING_CONFIG)  # what uvicorn does before importing the app
    stream = io.StringIO()
    configure_logging(stream=stream)

    logging.getLogger("uvicorn.error").info("Started server process [%d]", 1)
    logging.getLogger("uvicorn").info("from the parent")

    assert [line["event"] for line in lines(stream)] == [
        "Started server process [1]",
        "from the parent",
    ]
    assert "color_message" not in stream.getvalue()
    access = logging.getLogger("uvicorn.access")
    # uvicorn builds its access line only when the logger has somewhere to go.
    assert not access.hasHandlers()


def test_caplog_still_sees_every_record(caplog: pytest.LogCaptureFixture) -> None:
    configure_logging(stream=io.StringIO())

    logging.getLogger("app").warning("stdlib %s", "record")
    structlog.get_logger("app.structured").warning("structlog record", size=3)

    assert [record.name for record in caplog.records] == ["app", "app.structured"]
    assert caplog.records[0].getMessage() == "stdlib record"
    assert caplog.records[1].msg["size"] == 3  # type: ignore[index]


def test_without_a_stream_lines_follow_sys_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging()

    logging.getLogger("app").warning("to whatever stderr is now")

    captured = capsys.readouterr()
    assert json.loads(captured.err)["event"] == "to whatever stderr is now"


def test_write_event_matches_a_structlog_logger() -> None:
    stream = io.StringIO()
    configure_logging(stream=stream)
    logger = logging.getLogger("fastapi_chassis.access")

    with request_context(correlation_id="c-2"):
        structlog.get_logger("fastapi_chassis.access").info("request", status=200)
        write_event(logger, logging.INFO, {"event": "request", "status": 200})

    through_structlog, direct = lines(stream)
    through_structlog.pop("timestamp")
    direct.pop("timestamp")
    assert direct == through_structlog


def test_write_event_to_a_file_keeps_order_fields_and_odd_values(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    logger = logging.getLogger("fastapi_chassis.access")
    with path.open("w", encoding="utf-8") as stream:
        configure_logging(stream=stream)
        stream.write("pending text, not yet flushed\n")
        with request_context(correlation_id="c-3"):
            structlog.contextvars.bind_contextvars(tenant="acme")
            try:
                write_event(logger, logging.INFO, {"event": "request", "status": 200})
            finally:
                structlog.contextvars.unbind_contextvars("tenant")
        write_event(logger, logging.INFO, {"event": "request", "big": 2**70, "name": "zoë"})

    text, first, second = path.read_text(encoding="utf-8").splitlines()
    assert text == "pending text, not yet flushed"
    assert json.loads(first) == {
        "event": "request",
        "status": 200,
        "tenant": "acme",
        "correlation_id": "c-3",
        "logger": "fastapi_chassis.access",
        "level": "info",
        "timestamp": json.loads(first)["timestamp"],
    }
    assert json.loads(second)["big"] == 2**70
    assert json.loads(second)["name"] == "zoë"


def test_write_event_goes_through_structlog_when_its_processors_are_replaced() -> None:
    configure_logging(stream=io.StringIO())
    logger = logging.getLogger("fastapi_chassis.access")

    with capture_logs() as captured:
        write_event(logger, logging.INFO, {"event": "request", "status": 201})

    assert captured == [{"event": "request", "status": 201, "log_level": "info"}]


def test_render_json_survives_values_orjson_refuses() -> None:
    class Opaque:
        @override
        def __str__(self) -> str:
            return "opaque"

    assert json.loads(render_json(None, "info", {"value": Opaque()})) == {"value": "opaque"}
    assert json.loads(render_json(None, "info", {"big": 2**70})) == {"big": 2**70}
    assert json.loads(render_json(None, "info", {"counts": {404: 2}})) == {"counts": {"404": 2}}


def test_a_line_with_keys_that_are_not_strings_is_written_whole(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    access = logging.getLogger("fastapi_chassis.access")

    with path.open("w", encoding="utf-8") as stream:
        _configure_alone(stream)
        write_event(access, logging.INFO, {"event": "request", "statuses": {200: 3, 503: 1}})
        write_event(access, logging.INFO, {"event": "request", "big": {7: 2**70}})

    first, second = _json_lines(path)
    assert first["statuses"] == {"200": 3, "503": 1}
    assert second["big"] == {"7": 2**70}


def test_write_event_writes_the_same_line_with_or_without_other_handlers() -> None:
    stream = io.StringIO()
    configure_logging(stream=stream)
    logger = logging.getLogger("fastapi_chassis.access")
    root = logging.getLogger()
    made: list[logging.LogRecord] = []
    default_factory = logging.getLogRecordFactory()

    def counting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = default_factory(*args, **kwargs)
        made.append(record)
        return record

    logging.setLogRecordFactory(counting_factory)
    try:
        write_event(logger, logging.INFO, {"event": "request", "status": 200})
        with_others = len(made)
        # Alone on the root logger (as in production), the handler needs no record.
        others = [handler for handler in root.handlers if type(handler).__name__ != "LineHandler"]
        for handler in others:
            root.removeHandler(handler)
        try:
            write_event(logger, logging.INFO, {"event": "request", "status": 200})
        finally:
            for handler in others:
                root.addHandler(handler)
    finally:
        logging.setLogRecordFactory(default_factory)

    assert with_others == 1  # pytest's own handlers listen: a real record for them
    assert len(made) == 1
    first, second = lines(stream)
    assert first.pop("timestamp") != ""
    assert second.pop("timestamp") != ""
    assert first == second


def test_write_event_honours_logger_filters() -> None:
    stream = io.StringIO()
    configure_logging(stream=stream)
    logger = logging.getLogger("fastapi_chassis.access")

    def skip_health(record: logging.LogRecord) -> bool:
        return not str(record.msg["path"]).startswith("/health")  # type: ignore[index]

    logger.addFilter(skip_health)
    try:
        write_event(logger, logging.INFO, {"event": "request", "path": "/health/live"})
        write_event(logger, logging.INFO, {"event": "request", "path": "/orders"})
    finally:
        logger.removeFilter(skip_health)

    assert [line["path"] for line in lines(stream)] == ["/orders"]


def test_timestamps_are_utc_with_microseconds_across_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    start = 1_700_000_000 * 10**9
    # Nanoseconds: twice within one second, then twice within the next.
    clock = iter([start + 500_000_000, start + 750_000_999, start + 10**9 + 1_000, start + 10**9])

    class FakeTime:
        gmtime = staticmethod(time.gmtime)
        strftime = staticmethod(time.strftime)

        @staticmethod
        def time_ns() -> int:
            return next(clock)

    monkeypatch.setattr(log_output, "time", FakeTime)

    stamps = [log_output.add_timestamp(None, "info", {})["timestamp"] for _ in range(4)]

    assert stamps == [
        "2023-11-14T22:13:20.500000Z",
        "2023-11-14T22:13:20.750000Z",
        "2023-11-14T22:13:21.000001Z",
        "2023-11-14T22:13:21.000000Z",
    ]


def _json_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _configure_alone(stream: io.TextIOWrapper) -> None:
    """Configure logging with the chassis handler alone on the root logger, as in production.

    pytest's capture handlers listen on the root logger during a test; with them
    there, every line takes the record path (see the test just above).
    """
    configure_logging(stream=stream)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if type(handler).__name__ != "LineHandler":
            root.removeHandler(handler)


def test_lines_from_one_event_loop_turn_are_written_together_at_its_end(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    access = logging.getLogger("fastapi_chassis.access")

    async def requests() -> tuple[str, str]:
        for status in (200, 201, 204):
            write_event(access, logging.INFO, {"event": "request", "status": status})
        during_the_turn = path.read_text(encoding="utf-8")
        await asyncio.sleep(0)
        return during_the_turn, path.read_text(encoding="utf-8")

    with path.open("w", encoding="utf-8") as stream:
        _configure_alone(stream)
        during_the_turn, after_the_turn = asyncio.run(requests())

    assert during_the_turn == ""
    assert [line["status"] for line in map(json.loads, after_the_turn.splitlines())] == [
        200,
        201,
        204,
    ]


def test_any_other_line_writes_the_pending_ones_first(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    access = logging.getLogger("fastapi_chassis.access")

    async def request_then_warning() -> None:
        write_event(access, logging.INFO, {"event": "request", "status": 200})
        logging.getLogger("app").warning("after the request")
        structlog.get_logger("app").error("and after that")

    with path.open("w", encoding="utf-8") as stream:
        _configure_alone(stream)
        asyncio.run(request_then_warning())

    assert [line["event"] for line in _json_lines(path)] == [
        "request",
        "after the request",
        "and after that",
    ]


def _stopped_with_a_line_pending(access: logging.Logger) -> asyncio.AbstractEventLoop:
    """Run a new loop for one turn that writes an access line (status 200) and stops it."""
    loop = asyncio.new_event_loop()

    def last_request_then_stop() -> None:
        write_event(access, logging.INFO, {"event": "request", "status": 200})
        # The loop stops at the end of this turn, before the write scheduled for it.
        loop.stop()

    loop.call_soon(last_request_then_stop)
    loop.run_forever()
    return loop


def test_lines_pending_when_the_loop_stops_are_written_by_flush(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    access = logging.getLogger("fastapi_chassis.access")

    with path.open("w", encoding="utf-8") as stream:
        _configure_alone(stream)
        _stopped_with_a_line_pending(access).close()
        assert path.read_text(encoding="utf-8") == ""
        # What logging.shutdown() does for every handler at exit.
        for handler in logging.getLogger().handlers:
            handler.flush()

    assert [line["status"] for line in _json_lines(path)] == [200]


def test_a_line_after_the_loop_stopped_is_written_at_once_after_the_pending_ones(
    tmp_path: Path,
) -> None:
    path = tmp_path / "app.log"
    access = logging.getLogger("fastapi_chassis.access")

    with path.open("w", encoding="utf-8") as stream:
        _configure_alone(stream)
        loop = _stopped_with_a_line_pending(access)
        # Same thread, but no loop runs: nothing would write a batch.
        write_event(access, logging.INFO, {"event": "request", "status": 201})
        written = path.read_text(encoding="utf-8")
        loop.close()

    assert [line["status"] for line in map(json.loads, written.splitlines())] == [200, 201]


def test_a_line_from_another_thread_is_written_at_once_after_the_pending_ones(
    tmp_path: Path,
) -> None:
    path = tmp_path / "app.log"
    access = logging.getLogger("fastapi_chassis.access")

    def from_a_worker_thread() -> None:
        write_event(access, logging.INFO, {"event": "request", "status": 202})

    async def request_then_thread() -> str:
        write_event(access, logging.INFO, {"event": "request", "status": 200})
        # The loop is running, but not in the worker's thread: its line must not
        # wait for this loop's turn to end.
        worker = threading.Thread(target=from_a_worker_thread)
        worker.start()
        worker.join()
        return path.read_text(encoding="utf-8")

    with path.open("w", encoding="utf-8") as stream:
        _configure_alone(stream)
        written = asyncio.run(request_then_thread())

    assert [line["status"] for line in map(json.loads, written.splitlines())] == [200, 202]


def test_a_forked_child_does_not_repeat_its_parents_pending_lines(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    access = logging.getLogger("fastapi_chassis.access")

    async def request_then_fork() -> int:
        write_event(access, logging.INFO, {"event": "request", "by": "parent"})
        child = os.fork()
        if child == 0:  # pragma: no cover - runs in the child, which coverage does not follow
            write_event(access, logging.INFO, {"event": "request", "by": "child"})
            for handler in logging.getLogger().handlers:
                handler.flush()
            os._exit(0)
        return child

    with path.open("w", encoding="utf-8") as stream:
        _configure_alone(stream)
        child = asyncio.run(request_then_fork())
        os.waitpid(child, 0)

    assert sorted(line["by"] for line in _json_lines(path)) == ["child", "parent"]


def test_a_failed_write_of_pending_lines_is_reported_not_raised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "app.log"
    access = logging.getLogger("fastapi_chassis.access")
    stream = path.open("w", encoding="utf-8")
    read_end, write_end = os.pipe()
    os.close(read_end)

    async def request_to_a_broken_pipe() -> None:
        write_event(access, logging.INFO, {"event": "request", "status": 200})
        # The descriptor now leads to a pipe nobody reads: the write fails.
        os.dup2(write_end, stream.fileno())
        await asyncio.sleep(0)

    _configure_alone(stream)
    try:
        asyncio.run(request_to_a_broken_pipe())
    finally:
        os.close(write_end)
        stream.close()

    assert "BrokenPipeError" in capsys.readouterr().err
