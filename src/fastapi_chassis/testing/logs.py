"""``captured_logs``: the structured log lines a test wrote, as dicts.

structlog's own ``capture_logs()`` swaps the processors for a list collector,
so it sees structlog calls only, without the fields the processors add, and
nothing from standard-library loggers. Here the lines are taken where the
chassis configuration renders them: a handler on the root logger, beside the
one that writes the JSON lines, receives every record, runs the same
processors (logger name, level, timestamp, correlation id, bound context) and
keeps the event dict it would have rendered. So the captured lines are what
the JSON output would contain, for structlog loggers, standard-library loggers
(uvicorn, SQLAlchemy, the application's own) and the access line alike.
Exceptions appear as the JSON output has them, under ``exception``.

Levels apply as they do to the real output: a line the configuration would not
write is not captured. Without the chassis configuration (``create_app`` makes
it; so does :func:`~fastapi_chassis.observability.configure_logging`),
structlog calls are still captured, through a processor added for the test.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, overload

from typing_extensions import override

if TYPE_CHECKING:
    from structlog.typing import EventDict, Processor, WrappedLogger

__all__ = ["CapturedLogs", "LogLine", "capturing_logs"]

LogLine = dict[str, object]
"""One captured line: the fields the JSON output would carry."""

_ACCESS_LOGGER = "fastapi_chassis.access"


class CapturedLogs(Sequence[LogLine]):
    """The log lines of one test, in the order written (the ``captured_logs`` fixture).

    Args:
        lines: The list the capture appends to.
    """

    def __init__(self, lines: list[LogLine]) -> None:
        self._lines = lines

    @overload
    def __getitem__(self, index: int) -> LogLine: ...

    @overload
    def __getitem__(self, index: slice) -> list[LogLine]: ...

    @override
    def __getitem__(self, index: int | slice) -> LogLine | list[LogLine]:
        return self._lines[index]

    @override
    def __len__(self) -> int:
        return len(self._lines)

    @override
    def __iter__(self) -> Iterator[LogLine]:
        return iter(list(self._lines))

    @override
    def __repr__(self) -> str:
        return f"CapturedLogs({self._lines!r})"

    @property
    def lines(self) -> list[LogLine]:
        """A copy of the lines so far."""
        return list(self._lines)

    @property
    def events(self) -> list[str]:
        """The ``event`` (message) of each line, in order."""
        return [str(line.get("event")) for line in self._lines]

    def where(self, **fields: object) -> list[LogLine]:
        """Return the lines that have every given field with the given value.

        Example:
            >>> captured_logs.where(event="order placed", level="info")
        """
        return [
            line
            for line in self._lines
            if all(key in line and line[key] == value for key, value in fields.items())
        ]

    def access_lines(self) -> list[LogLine]:
        """Return the access lines (one per request, logger ``fastapi_chassis.access``)."""
        return self.where(logger=_ACCESS_LOGGER)

    def assert_logged(self, event: str, **fields: object) -> LogLine:
        """Fail unless a line with this event and these fields was written.

        Args:
            event: The line's ``event`` (message).
            **fields: Further fields the line must have, with these values.

        Returns:
            The first matching line.

        Raises:
            AssertionError: Listing the lines written, if none matches.
        """
        found = self.where(event=event, **fields)
        if found:
            return found[0]
        listing = "\n".join(f"  {line}" for line in self._lines) or "  (nothing)"
        raise AssertionError(f"no log line {event!r} with {fields}; lines written:\n{listing}")

    def clear(self) -> None:
        """Forget the lines captured so far."""
        self._lines.clear()


def _foreign_pre_chain() -> list[Processor]:
    """The processors the chassis handler runs on standard-library records."""
    import structlog  # noqa: PLC0415

    from fastapi_chassis.observability.log_output import LineHandler, add_timestamp  # noqa: PLC0415
    from fastapi_chassis.observability.logging import add_request_context  # noqa: PLC0415

    for handler in logging.getLogger().handlers:
        if isinstance(handler, LineHandler):
            chain = handler.line_formatter.foreign_pre_chain
            if chain:
                return list(chain)
    return [
        structlog.stdlib.ExtraAdder(),
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        add_request_context,
        add_timestamp,
    ]


class _CaptureHandler(logging.Handler):
    """Keeps the event dict of every record it receives."""

    def __init__(self, lines: list[LogLine]) -> None:
        super().__init__()
        self.lines = lines
        self._processors: list[Processor] | None = None

    def _formatter(self) -> logging.Formatter:
        import structlog  # noqa: PLC0415
        from structlog.stdlib import ProcessorFormatter  # noqa: PLC0415

        from fastapi_chassis.observability.log_output import render_exceptions  # noqa: PLC0415

        exceptions = structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        return ProcessorFormatter(
            foreign_pre_chain=_foreign_pre_chain(),
            processors=[
                ProcessorFormatter.remove_processors_meta,
                render_exceptions(structlog.processors.ExceptionRenderer(exceptions)),
                self._keep,
            ],
        )

    def _keep(self, _logger: WrappedLogger, _method: str, event_dict: EventDict) -> str:
        self.lines.append(dict(event_dict))
        return ""

    @override
    def emit(self, record: logging.LogRecord) -> None:
        """Run the record through the processors and keep the result."""
        try:
            if self.formatter is None:
                self.setFormatter(self._formatter())
            self.format(record)
        except RecursionError:
            raise
        except Exception:  # noqa: BLE001 - a log call must not fail the code under test
            self.handleError(record)


@contextlib.contextmanager
def capturing_logs() -> Iterator[CapturedLogs]:
    """Capture log lines for the duration of the block.

    Yields:
        The lines, growing as they are written.
    """
    import structlog  # noqa: PLC0415
    from structlog.stdlib import ProcessorFormatter  # noqa: PLC0415

    lines: list[LogLine] = []
    handler = _CaptureHandler(lines)
    root = logging.getLogger()
    root.addHandler(handler)
    # The live list: loggers cached on first use hold it, so changing it in
    # place reaches them (configure_logging and structlog.testing do the same).
    processors: list[Processor] = structlog.get_config()["processors"]
    inserted: Processor | None = None
    if not processors or processors[-1] is not ProcessorFormatter.wrap_for_formatter:

        def keep(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
            lines.append(dict(event_dict))
            return event_dict

        inserted = keep
        processors.insert(max(len(processors) - 1, 0), keep)
    try:
        yield CapturedLogs(lines)
    finally:
        root.removeHandler(handler)
        if inserted is not None:
            with contextlib.suppress(ValueError):
                processors.remove(inserted)
