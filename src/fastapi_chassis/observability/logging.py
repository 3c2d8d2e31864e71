"""Structured logging: structlog and the standard library, one format, one set of fields.

:func:`configure_logging` sets up structlog and the standard library together, in
the way structlog documents as "rendering with ProcessorFormatter": structlog
events and records from stdlib loggers (uvicorn, SQLAlchemy, asyncpg, the
chassis itself, the application's own) meet in one handler on the root logger,
whose :class:`~structlog.stdlib.ProcessorFormatter` runs the same processors on
both and renders one JSON object per line (with orjson), or a readable console
line in development.

Every line carries the request's correlation id, and its trace id and actor when
known, read by one processor, :func:`add_request_context`, from
:mod:`fastapi_chassis.context` when the line is written. Nothing is bound or
unbound per request: the correlation middleware already keeps the context in a
context variable, and a processor that reads it costs one lookup per line.

The configuration is global, as logging configuration is, and repeatable: a second
call replaces what the first installed instead of adding to it. Handlers that
belong to others (pytest's ``caplog``, a file handler the application added) are
left where they are.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TextIO

import structlog
from structlog.stdlib import ProcessorFormatter

from fastapi_chassis.context import current_context
from fastapi_chassis.observability.log_output import (
    LineFormatter,
    LineHandler,
    add_timestamp,
    render_exceptions,
    render_json,
    sole_line_handler,
)

if TYPE_CHECKING:
    from structlog.typing import EventDict, Processor, WrappedLogger

__all__ = [
    "ROUTED_LOGGERS",
    "LogLevel",
    "add_request_context",
    "configure_logging",
    "structlog_context_variable",
    "write_event",
]

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] | int
"""A level by name or by number, as :mod:`logging` takes it."""

ROUTED_LOGGERS: tuple[str, ...] = ("uvicorn", "uvicorn.error", "sqlalchemy", "asyncpg")
"""Standard-library loggers whose records :func:`configure_logging` sends to its handler.

``fastapi_chassis`` loggers and the application's own reach it through the root
logger anyway; these are listed because the servers and drivers that own them
often attach their own handlers or stop propagation.
"""

# uvicorn configures these with their own handlers and levels before it imports
# the application; the chassis level is the one that counts.
_SERVER_LOGGERS = ("uvicorn", "uvicorn.error")
# uvicorn's access line would be a second line for every request (the chassis
# writes its own); without handlers uvicorn does not even build it.
_SILENCED_LOGGERS = ("uvicorn.access",)


def add_request_context(
    logger: WrappedLogger,  # noqa: ARG001 - structlog's processor signature
    method_name: str,  # noqa: ARG001
    event_dict: EventDict,
) -> EventDict:
    """Add the correlation id, trace id and actor of the current request to a log line.

    A structlog processor: it reads :func:`fastapi_chassis.context.current_context`
    and adds ``correlation_id``, ``trace_id`` and ``actor`` when they are known and
    the line does not carry them already (the access line, written after the
    request's context has ended, passes them explicitly). Add it to your own
    processor chain if you configure structlog yourself.

    Args:
        logger: The wrapped logger (unused).
        method_name: The name of the log method called (unused).
        event_dict: The event being logged.

    Returns:
        The event, with the context's fields.
    """
    context = current_context()
    if context.correlation_id is not None and "correlation_id" not in event_dict:
        event_dict["correlation_id"] = context.correlation_id
    if context.trace_id is not None and "trace_id" not in event_dict:
        event_dict["trace_id"] = context.trace_id
    if context.actor is not None and "actor" not in event_dict:
        event_dict["actor"] = context.actor
    return event_dict


def _structlog_registry() -> tuple[dict[str, ContextVar[object]], str] | None:
    """The registry of structlog's context variables, and their names' prefix.

    structlog keeps the variables that ``bind_contextvars`` sets in one
    module-level dict, created on first use, each named with a prefix. Reading or
    setting those directly is what the two helpers below do; ``None`` where the
    registry is not there (another structlog version).
    """
    registry = getattr(structlog.contextvars, "_CONTEXT_VARS", None)
    prefix = getattr(structlog.contextvars, "STRUCTLOG_KEY_PREFIX", None)
    if not isinstance(registry, dict) or not isinstance(prefix, str) or not prefix:
        return None  # pragma: no cover - other structlog versions
    return registry, prefix


def structlog_context_variable(name: str) -> ContextVar[object]:
    """The context variable that ``structlog.contextvars.bind_contextvars(name=...)`` sets.

    Setting it directly gives the same binding (``get_contextvars()``,
    ``merge_contextvars`` and ``clear_contextvars`` all see it) without the
    keyword dictionaries ``bind_contextvars`` and ``reset_contextvars`` build on
    every call; the correlation middleware sets two on every request.

    Args:
        name: The field's name (``correlation_id``).
    """
    found = _structlog_registry()
    if found is None:  # pragma: no cover - other structlog versions
        tokens = structlog.contextvars.bind_contextvars(**{name: None})
        structlog.contextvars.reset_contextvars(**tokens)
        bound: ContextVar[object] = tokens[name].var
        return bound
    registry, prefix = found
    key = prefix + name
    variable = registry.get(key)
    if variable is None:
        # structlog's own default for an unbound variable is Ellipsis.
        variable = registry[key] = ContextVar(key, default=Ellipsis)
    return variable


def _bound_context_merger() -> Processor:
    # structlog.contextvars.merge_contextvars walks every context variable of the
    # task (asyncio's, anyio's, the server's, ...) to find its own. Reading
    # structlog's registry alone gives the same fields for a fraction of the cost.
    # Where the registry is not there, structlog's processor is used.
    found = _structlog_registry()
    if found is None:  # pragma: no cover - other structlog versions
        return structlog.contextvars.merge_contextvars
    registry, prefix = found
    prefix_length = len(prefix)

    def merge_bound_context(
        _logger: WrappedLogger, _method: str, event_dict: EventDict
    ) -> EventDict:
        for name, variable in tuple(registry.items()):
            value = variable.get(Ellipsis)
            if value is not Ellipsis:
                event_dict.setdefault(name[prefix_length:], value)
        return event_dict

    return merge_bound_context


merge_bound_context = _bound_context_merger()
"""A structlog processor: what ``structlog.contextvars.merge_contextvars`` adds, faster."""


# Record attributes that are not fields: uvicorn's copy of each message with
# terminal colours, and what a handler's Formatter set on the record before ours.
_NOT_FIELDS = ("color_message", "message", "asctime")


def _drop_non_fields(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    for name in _NOT_FIELDS:
        event_dict.pop(name, None)
    return event_dict


def _shared_processors() -> list[Processor]:
    # Run for every line, structlog's and stdlib's alike.
    return [
        merge_bound_context,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        add_request_context,
        add_timestamp,
    ]


def _renderers(*, json: bool, stream: TextIO | None) -> list[Processor]:
    if json:
        # Locals would put secrets and personal data in the logs.
        exceptions = structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        return [render_exceptions(structlog.processors.ExceptionRenderer(exceptions)), render_json]
    target = stream or sys.stderr
    colors = bool(getattr(target, "isatty", lambda: False)())
    return [structlog.dev.ConsoleRenderer(colors=colors)]


def _route_stdlib_loggers() -> None:
    for name in _SERVER_LOGGERS:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
        logger.propagate = True
    for name in ROUTED_LOGGERS:
        logging.getLogger(name).propagate = True
    for name in _SILENCED_LOGGERS:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = False


@dataclass(frozen=True, slots=True)
class _Installation:
    """What the last :func:`configure_logging` call handed to structlog."""

    processors: list[Processor]
    """structlog's live processor list (tests' capture helpers change it in place)."""
    length: int
    shared: tuple[Processor, ...]
    """The processors every line goes through before rendering."""
    json: bool
    """Whether lines are rendered as JSON (by :func:`render_json`)."""


_installation: _Installation | None = None

_METHOD_NAMES = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warning",
    logging.ERROR: "error",
    logging.CRITICAL: "critical",
}


# structlog.get_config() builds a dict of its whole configuration on every call,
# and the access line asks on every request: structlog's configuration object,
# which it changes in place and never replaces, is read directly where it exists.
_structlog_configuration = getattr(structlog._config, "_CONFIG", None)  # noqa: SLF001


def _installed() -> _Installation | None:
    # The chassis chain is in place unless structlog was configured since, or
    # structlog.testing.capture_logs replaced the processors for a while.
    installed = _installation
    if installed is None:
        return None
    live = installed.processors
    configured = getattr(_structlog_configuration, "default_processors", None)
    if configured is None:  # pragma: no cover - structlog versions without the object
        configured = structlog.get_config()["processors"]
    if (
        len(live) != installed.length
        or live[-1] is not ProcessorFormatter.wrap_for_formatter
        or configured is not live
    ):
        return None
    return installed


def write_event(logger: logging.Logger, level: int, event_dict: EventDict) -> None:
    """Log a ready-made event on a standard-library logger, as a structlog logger would.

    Meant for lines written on every request, such as the access line. When the
    processors of :func:`configure_logging` are in place, it runs them itself:
    the line is the same as ``structlog.get_logger(name).info(...)`` writes,
    without the bound-logger machinery and the caller lookup the standard
    library does for each record. Levels, filters and handlers apply as usual:
    the record goes to ``logger.handle``, except when the chassis handler is
    the only one it would reach and nothing filters it on the way, where the
    line is written without making a record at all. Otherwise (structlog
    configured by the application, or ``structlog.testing.capture_logs``
    active) it logs through ``structlog.get_logger(logger.name)``, so that
    configuration applies.

    Args:
        logger: The standard-library logger the line belongs to.
        level: The level, as a number (``logging.INFO``).
        event_dict: The fields, with the message under ``"event"``; an exception
            to log goes under ``"exc_info"``. The dict is used up by the call.
    """
    method_name = _METHOD_NAMES.get(level) or logging.getLevelName(level).lower()
    installed = _installed()
    if installed is None:
        event = event_dict.pop("event")
        getattr(structlog.get_logger(logger.name), method_name)(event, **event_dict)
        return
    if not logger.isEnabledFor(level):
        return
    handler = sole_line_handler(logger, level)
    if handler is not None and installed.json and "exc_info" not in event_dict:
        # The common case, written out: what the shared processors and the JSON
        # renderer do, without a call per step.
        merge_bound_context(logger, method_name, event_dict)
        event_dict["logger"] = logger.name
        event_dict["level"] = method_name
        add_request_context(logger, method_name, event_dict)
        add_timestamp(logger, method_name, event_dict)
        handler.write_json(logger, level, event_dict)
        return
    for processor in installed.shared:
        event_dict = processor(logger, method_name, event_dict)  # type: ignore[assignment]
    if handler is not None:
        handler.write(logger, level, method_name, event_dict)
        return
    record = logging.getLogRecordFactory()(logger.name, level, __file__, 0, event_dict, (), None)
    # What ProcessorFormatter.wrap_for_formatter attaches to structlog's records.
    record.__dict__.update(_logger=logger, _name=method_name)
    logger.handle(record)


def configure_logging(
    *, json: bool = True, level: LogLevel = "INFO", stream: TextIO | None = None
) -> None:
    """Send structlog and standard-library logging through one structured format.

    After the call, structlog loggers (``structlog.get_logger()``) and stdlib
    loggers (``logging.getLogger()``, uvicorn's, SQLAlchemy's, asyncpg's) write
    one line per record through the same processors: logger name, level, an ISO
    8601 UTC timestamp, the request's correlation id (plus trace id and actor
    when known), context bound with :func:`structlog.contextvars.bind_contextvars`,
    and exceptions with their whole chain. uvicorn's access log is silenced: the
    chassis writes one access line per request itself.

    Calling it again replaces the previous configuration (it never adds a second
    handler). Handlers installed by others on the root logger, such as pytest's
    ``caplog``, keep receiving every record.

    Args:
        json: One JSON object per line; ``False`` gives a readable console format.
        level: The lowest level written, set on the root logger.
        stream: Where lines go; by default whatever ``sys.stderr`` is at the time.

    Example:
        >>> configure_logging(json=False, level="DEBUG")
        >>> structlog.get_logger().info("order placed", order_id=42)
    """
    global _installation  # noqa: PLW0603 - logging configuration is process-wide
    shared = _shared_processors()
    # Reuse structlog's live processor list: loggers cached on first use hold it,
    # so a second configuration reaches them too (structlog.testing does the same).
    processors: list[Processor] = structlog.get_config()["processors"]
    processors[:] = [
        structlog.stdlib.filter_by_level,
        structlog.stdlib.PositionalArgumentsFormatter(),
        *shared,
        structlog.processors.StackInfoRenderer(),
        ProcessorFormatter.wrap_for_formatter,
    ]
    structlog.configure(
        processors=processors,
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = LineFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), _drop_non_fields, *shared],
        renderers=_renderers(json=json, stream=stream),
    )
    handler = LineHandler(stream, formatter)
    root = logging.getLogger()
    for existing in list(root.handlers):
        if isinstance(existing, LineHandler):
            root.removeHandler(existing)
            existing.close()
    root.addHandler(handler)
    root.setLevel(level)
    _route_stdlib_loggers()
    _installation = _Installation(processors, len(processors), tuple(shared), json)
