"""How log lines are stamped, rendered and written: the end of the logging pipeline.

:func:`~fastapi_chassis.observability.configure_logging` assembles these: a
timestamp processor, the JSON renderer, and one handler with its formatter on the
root logger. They are written for the line logged on every request (the access
line), so each avoids work the general-purpose versions do: the timestamp
reuses the formatted second, the formatter does not copy records that structlog
made, and the handler can write an event that never became a
:class:`logging.LogRecord` (see :meth:`LineHandler.write`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
import weakref
from threading import get_ident
from typing import TYPE_CHECKING, TextIO

import orjson
from structlog.stdlib import ProcessorFormatter
from typing_extensions import override

if TYPE_CHECKING:
    from structlog.typing import EventDict, Processor, WrappedLogger

__all__ = [
    "LineFormatter",
    "LineHandler",
    "add_timestamp",
    "render_exceptions",
    "render_json",
    "sole_line_handler",
]


class _SecondCache:
    """The formatted UTC second of the last timestamp, reused until the clock moves on."""

    __slots__ = ("entry",)

    def __init__(self) -> None:
        # One tuple, replaced whole, so threads never see a second with another's text.
        self.entry: tuple[int, str] = (-1, "")


_second = _SecondCache()


def add_timestamp(
    logger: WrappedLogger,  # noqa: ARG001 - structlog's processor signature
    method_name: str,  # noqa: ARG001
    event_dict: EventDict,
) -> EventDict:
    """Add ``timestamp``: ISO 8601 in UTC with microseconds (``2025-06-01T12:00:00.000123Z``).

    A structlog processor. It writes what ``TimeStamper(fmt="iso", utc=True)``
    writes, always with six fractional digits, at half the cost: the date and time
    of day are formatted once per second.

    Args:
        logger: The wrapped logger (unused).
        method_name: The name of the log method called (unused).
        event_dict: The event being logged.

    Returns:
        The event, with its timestamp.
    """
    second, microseconds = divmod(time.time_ns() // 1000, 1_000_000)
    cached_second, prefix = _second.entry
    if second != cached_second:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _second.entry = (second, prefix)
    event_dict["timestamp"] = f"{prefix}.{microseconds:06d}Z"
    return event_dict


def render_exceptions(renderer: Processor) -> Processor:
    """Wrap an exception renderer so that it runs only for events that carry one.

    structlog's :class:`~structlog.processors.ExceptionRenderer` inspects every
    event; almost none carry an exception, and the access line never does.

    Args:
        renderer: The processor that turns ``exc_info`` into fields.

    Returns:
        A processor that calls ``renderer`` when the event has ``exc_info``.
    """

    def render_if_present(
        logger: WrappedLogger, method_name: str, event_dict: EventDict
    ) -> EventDict:
        if "exc_info" in event_dict:
            rendered: EventDict = renderer(logger, method_name, event_dict)  # type: ignore[assignment]
            return rendered
        return event_dict

    return render_if_present


def _fallback_dumps(event_dict: EventDict) -> str:
    # orjson refuses integers beyond 64 bits; a log line must never fail because
    # of one odd value.
    return json.dumps(event_dict, default=repr, ensure_ascii=False)


def render_json(
    logger: WrappedLogger,  # noqa: ARG001 - structlog's processor signature
    method_name: str,  # noqa: ARG001
    event_dict: EventDict,
) -> str:
    """Render an event as one line of JSON, with orjson.

    A structlog processor, the last in the chain. Values orjson cannot serialise
    natively are rendered with :func:`str`; an event orjson refuses altogether
    (an integer beyond 64 bits) falls back to the standard library's encoder.

    Args:
        logger: The wrapped logger (unused).
        method_name: The name of the log method called (unused).
        event_dict: The event to render.

    Returns:
        The JSON text, without a line break.
    """
    return _json_bytes(event_dict, 0).decode()


def _json_bytes(event_dict: EventDict, option: int) -> bytes:
    """``event_dict`` as JSON, with orjson's ``option``; see :func:`render_json`."""
    try:
        return orjson.dumps(event_dict, default=str, option=option)
    except TypeError:
        pass
    try:
        # A key that is not a string: orjson writes it as text on a slower path,
        # which costs every line half as much again when asked for up front.
        return orjson.dumps(event_dict, default=str, option=option | orjson.OPT_NON_STR_KEYS)
    except TypeError:
        text = _fallback_dumps(event_dict)
        return (text + "\n" if option & orjson.OPT_APPEND_NEWLINE else text).encode()


class LineFormatter(ProcessorFormatter):
    """A :class:`~structlog.stdlib.ProcessorFormatter` that renders structlog's records as they are.

    Records from standard-library loggers take the base class's path: the
    ``foreign_pre_chain`` adds what structlog's own processors add, then the
    renderers run. For records structlog made, the base class copies the whole
    record (so that other handlers see it unchanged) and passes the rendered text
    through :class:`logging.Formatter`; here only the event dict is copied and
    the rendered text is the result, which saves about a third of a line's cost.
    The ``_record`` and ``_from_structlog`` keys are not added, since only
    ``remove_processors_meta`` would read them.

    Args:
        foreign_pre_chain: Processors for records from standard-library loggers.
        renderers: The processors that end every chain; the last returns the line.
    """

    def __init__(self, *, foreign_pre_chain: list[Processor], renderers: list[Processor]) -> None:
        super().__init__(
            foreign_pre_chain=foreign_pre_chain,
            processors=[ProcessorFormatter.remove_processors_meta, *renderers],
        )
        self.renderers = tuple(renderers)

    def render(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> str:
        """Render a processed event as one line (``event_dict`` is used up).

        Args:
            logger: The logger the event belongs to.
            method_name: The level's method name (``"info"``).
            event_dict: The event, after the shared processors.

        Returns:
            The line, without a line break.
        """
        rendered: object = event_dict
        for processor in self.renderers:
            rendered = processor(logger, method_name, rendered)  # type: ignore[arg-type]
        return rendered if isinstance(rendered, str) else str(rendered)

    @override
    def format(self, record: logging.LogRecord) -> str:
        event = record.msg
        wrapped_logger = record.__dict__.get("_logger")
        if wrapped_logger is None or type(event) is not dict:
            return super().format(record)
        method_name: str = record.__dict__.get("_name", record.levelname.lower())
        return self.render(wrapped_logger, method_name, dict(event))


class _Batch:
    """JSON lines waiting to be written to one descriptor in one write."""

    __slots__ = ("descriptor", "lines", "loop", "size", "stream", "thread")

    def __init__(self, loop: asyncio.AbstractEventLoop, stream: TextIO, descriptor: int) -> None:
        self.loop = loop
        self.thread = get_ident()
        self.stream = stream
        self.descriptor = descriptor
        self.lines: list[bytes] = []
        self.size = 0


_BATCH_LIMIT = 64 * 1024
"""Bytes of pending lines that are written at once rather than at the end of the turn."""

# What handleError reports when writing gathered lines failed.
_PENDING_LINES = logging.LogRecord(
    "fastapi_chassis", logging.ERROR, "", 0, "pending lines", (), None
)

_handlers_with_batches: weakref.WeakSet[LineHandler] = weakref.WeakSet()


def _write_every_batch() -> None:
    # Before a fork: a child must not inherit, and later write, its parent's lines.
    for handler in list(_handlers_with_batches):
        handler.flush()


if hasattr(os, "register_at_fork"):  # pragma: no branch - absent on Windows only
    os.register_at_fork(before=_write_every_batch)


class LineHandler(logging.Handler):
    """Writes each record as one line to a stream.

    Without a fixed stream it writes to whatever ``sys.stderr`` is when the line
    is written, as the standard library's last-resort handler does: test runners
    swap ``sys.stderr`` per test, and a handler holding on to an old one would
    write to a closed file.

    Lines that :meth:`write_json` writes from a running event loop to a stream
    with a file descriptor (a file, a pipe, a terminal) are gathered and written
    in one system call at the end of the event loop's turn, which under load
    saves a call per request. Nothing waits longer: any other line written
    through the handler, :meth:`flush` (which ``logging.shutdown`` calls at
    exit), :meth:`close`, a fork, and 64 KiB of pending lines all write them
    first, so lines keep their order. Text written to the same stream without
    going through the handler (``print``) may land before lines of the same turn.

    Args:
        stream: Where lines go; ``None`` follows ``sys.stderr``.
        formatter: Renders records and events.
    """

    def __init__(self, stream: TextIO | None, formatter: LineFormatter) -> None:
        super().__init__()
        self.fixed_stream = stream
        self.line_formatter = formatter
        self.setFormatter(formatter)
        # The last stream written to and its file descriptor (None: write text).
        self._descriptor: tuple[TextIO | None, int | None] = (None, None)
        self._batch: _Batch | None = None

    def _write_line(self, line: str) -> None:
        # Called with the lock held.
        self._write_text(self.fixed_stream or sys.stderr, line + "\n")

    def _write_text(self, stream: TextIO, text: str) -> None:
        # Called with the lock held. Gathered lines go first, so lines keep their order.
        if self._batch is not None:
            self._write_batch()
        stream.write(text)
        stream.flush()

    @override
    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._write_line(self.format(record))
        except RecursionError:
            raise
        except Exception:  # noqa: BLE001 - logging must not raise; the stdlib reports it
            self.handleError(record)

    @override
    def flush(self) -> None:
        """Write the lines gathered for the end of the event loop's turn, if any."""
        with self.lock:  # type: ignore[union-attr]
            if self._batch is None:
                return
            try:
                self._write_batch()
            except RecursionError:
                raise
            except Exception:  # noqa: BLE001 - as in emit(): report, never raise
                self.handleError(_PENDING_LINES)

    @override
    def close(self) -> None:
        """Write pending lines, then close as every handler does (the stream stays open)."""
        self.flush()
        super().close()

    def write(self, logger: logging.Logger, level: int, method_name: str, event: EventDict) -> None:
        """Render and write a processed event without making a :class:`logging.LogRecord`.

        For callers that checked this handler is the only one the event would
        reach (see :func:`sole_line_handler`); the line is the same as the record
        path writes.

        Args:
            logger: The logger the event belongs to.
            level: Its level, as a number.
            method_name: The level's method name (``"info"``).
            event: The event, after the shared processors; it is used up.
        """
        try:
            line = self.line_formatter.render(logger, method_name, event)
            with self.lock:  # type: ignore[union-attr]
                self._write_line(line)
        except RecursionError:
            raise
        except Exception:  # noqa: BLE001 - as in emit(): report, never raise
            self.handleError(logging.LogRecord(logger.name, level, "", 0, event, (), None))

    def write_json(self, logger: logging.Logger, level: int, event: EventDict) -> None:
        """Write a processed event that carries no exception as one line of JSON.

        What :meth:`write` does when the renderer is :func:`render_json`, in one
        step, for callers that checked both. The bytes go to the stream's file
        descriptor directly, once the stream has nothing of its own pending; from
        a running event loop, at the end of its turn (see the class documentation).

        Args:
            logger: The logger the event belongs to.
            level: Its level, as a number.
            event: The event, after the shared processors.
        """
        try:
            line = _json_bytes(event, orjson.OPT_APPEND_NEWLINE)
            stream = self.fixed_stream or sys.stderr
            with self.lock:  # type: ignore[union-attr]
                self._write_bytes(stream, line)
        except RecursionError:
            raise
        except Exception:  # noqa: BLE001 - as in emit(): report, never raise
            self.handleError(logging.LogRecord(logger.name, level, "", 0, event, (), None))

    def _write_bytes(self, stream: TextIO, line: bytes) -> None:
        # Called with the lock held.
        known_stream, descriptor = self._descriptor
        if stream is not known_stream:
            descriptor = _descriptor(stream)
            self._descriptor = (stream, descriptor)
        if descriptor is None:
            self._write_text(stream, line.decode())
            return
        batch = self._batch
        # The descriptor follows from the stream (see above), so the stream decides.
        # A batch's loop running in the batch's thread, which is this one, means
        # this line is written during the loop's turn that the batch waits for
        # the end of: checked first, since asking for the running loop costs a
        # getpid() system call on Python 3.11.
        if (
            batch is None
            or batch.stream is not stream
            or batch.thread != get_ident()
            or not batch.loop.is_running()
        ):
            batch = self._start_batch(stream, descriptor, line)
            if batch is None:
                return
        batch.lines.append(line)
        batch.size += len(line)
        if batch.size >= _BATCH_LIMIT:
            self._write_batch()

    def _start_batch(self, stream: TextIO, descriptor: int, line: bytes) -> _Batch | None:
        # Called with the lock held. Pending lines go first; without a running
        # loop in this thread, ``line`` is written at once and there is no batch.
        loop = asyncio._get_running_loop()  # noqa: SLF001 - the C fast path of get_running_loop
        if self._batch is not None:
            self._write_batch()
        if loop is None:
            stream.flush()
            _write_all(descriptor, line)
            return None
        batch = self._batch = _Batch(loop, stream, descriptor)
        _handlers_with_batches.add(self)
        loop.call_soon(self.flush)
        return batch

    def _write_batch(self) -> None:
        # Called with the lock held, when a batch exists. The batch is dropped
        # first: a failed write must not be repeated by every later line.
        batch = self._batch
        assert batch is not None  # noqa: S101 - the callers check
        self._batch = None
        batch.stream.flush()
        _write_all(batch.descriptor, b"".join(batch.lines))


def _descriptor(stream: TextIO) -> int | None:
    """The file descriptor under a text stream, if it writes UTF-8 to one."""
    try:
        encoding = getattr(stream, "encoding", None)
        if encoding is None or encoding.replace("-", "").lower() != "utf8":
            return None
        return stream.fileno()
    except (AttributeError, OSError, ValueError):
        # In-memory streams (pytest's capture, io.StringIO) have none.
        return None


def _write_all(descriptor: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(descriptor, view)
        view = view[written:]


def sole_line_handler(logger: logging.Logger, level: int) -> LineHandler | None:
    """Return the :class:`LineHandler` that alone would receive ``logger``'s records.

    ``None`` when a record at ``level`` would also reach another handler (pytest's
    ``caplog``, a file handler), or when a logger or handler on the way has
    filters or is disabled: then only a real record does what the configuration
    asks.

    Args:
        logger: Where the record would start.
        level: Its level, as a number.
    """
    found: LineHandler | None = None
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters or current.disabled:
            return None
        for handler in current.handlers:
            if (
                found is not None
                or type(handler) is not LineHandler
                or handler.filters
                or level < handler.level
            ):
                return None
            found = handler
        if not current.propagate:
            break
        current = current.parent
    return found
