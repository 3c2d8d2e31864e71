"""The access line of every request and the error record of every request that failed.

Both are written from the ``chassis_request_finished`` hook, once the response is
complete, from the request's :class:`~fastapi_chassis.api.facts.RequestFacts`:
the route template routing matched, the status sent, the duration, the API
version, the database work, and the exception that escaped the application, if
one did. The request's context has ended by then, so the correlation id, trace id
and actor come from ``facts.context`` rather than from the context variable.

An unhandled exception is logged exactly once, here: the outermost chassis layer
stops it before it reaches the server (uvicorn would print it again), and
Starlette's error middleware, which sent the 500, does not log it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fastapi_chassis.observability.logging import configure_logging, write_event
from fastapi_chassis.plugins.markers import hookimpl

if TYPE_CHECKING:
    from fastapi import FastAPI

    from fastapi_chassis.api.facts import RequestFacts
    from fastapi_chassis.settings import ChassisSettings

__all__ = ["ACCESS_LOGGER", "ERROR_LOGGER", "AccessLog", "LoggingPlugin"]

ACCESS_LOGGER = "fastapi_chassis.access"
"""The logger of access lines; raise its level to ``WARNING`` to drop them."""
ERROR_LOGGER = "fastapi_chassis.requests"
"""The logger of the error record written for an unhandled exception."""


class AccessLog:
    """Write one access line per request, and an error record when one failed.

    An instance is a ``chassis_request_finished`` callback: call it with the facts
    of a finished request.

    The access line (logger :data:`ACCESS_LOGGER`, level INFO, event ``request``)
    has ``method``, ``path``, ``route`` (the template), ``status`` and
    ``duration_ms``, plus ``correlation_id``, ``trace_id``, ``actor`` and
    ``api_version`` when known and ``db_queries`` and ``db_time_ms`` when the
    request ran SQL. The error record (logger :data:`ERROR_LOGGER`, level ERROR,
    event ``request failed``) has the same request fields and the exception with
    its chain and traceback.
    """

    def __init__(self) -> None:
        self._access = logging.getLogger(ACCESS_LOGGER)
        self._errors = logging.getLogger(ERROR_LOGGER)

    def __call__(self, facts: RequestFacts) -> None:
        """Log the finished request described by ``facts``."""
        if facts.exception is not None:
            fields = _request_fields(facts, "request failed")
            fields["exc_info"] = facts.exception
            write_event(self._errors, logging.ERROR, fields)
        write_event(self._access, logging.INFO, _request_fields(facts, "request"))


def _request_fields(facts: RequestFacts, event: str) -> dict[str, object]:
    fields: dict[str, object] = {
        "event": event,
        "method": facts.method,
        "path": facts.path,
        "route": facts.route,
        "status": facts.status,
        "duration_ms": _milliseconds(facts.duration or 0.0),
    }
    context = facts.context
    if context is not None:
        if context.correlation_id is not None:
            fields["correlation_id"] = context.correlation_id
        if context.trace_id is not None:
            fields["trace_id"] = context.trace_id
        if context.actor is not None:
            fields["actor"] = context.actor
    elif facts.correlation_id is not None:
        fields["correlation_id"] = facts.correlation_id
    if facts.api_version is not None:
        fields["api_version"] = facts.api_version
    if facts.db_queries:
        fields["db_queries"] = facts.db_queries
        fields["db_time_ms"] = _milliseconds(facts.db_time)
    return fields


def _milliseconds(seconds: float) -> float:
    """``seconds`` in milliseconds, to the microsecond (``0.0001236`` -> ``0.124``).

    For the non-negative durations of a request. ``round(x, 3)`` rounds the
    decimal expansion exactly, through text; on the access line that is one of
    the dearest calls, for a digit no one reads.
    """
    return int(seconds * 1_000_000.0 + 0.5) / 1000.0


class LoggingPlugin:
    """Built-in plugin ``chassis.logging``: structured logs and one access line per request.

    It calls :func:`~fastapi_chassis.observability.configure_logging` with the
    ``log_json`` and ``log_level`` settings when the application is built, and
    again when it starts (servers such as uvicorn may configure their own loggers
    in between), unless ``log_configure`` is off. Either way it writes the access
    line and error record of every request (see :class:`AccessLog`).
    """

    name = "chassis.logging"

    def __init__(self) -> None:
        self.access_log = AccessLog()

    @hookimpl
    def chassis_configure_app(self, settings: ChassisSettings) -> None:
        """Configure logging from the settings, as early as an application exists."""
        _configure(settings)

    @hookimpl
    def chassis_startup(self, app: FastAPI) -> None:
        """Configure logging again, over whatever the server set up since the build."""
        _configure(app.state.chassis.settings)

    @hookimpl
    def chassis_request_finished(self, facts: RequestFacts) -> None:
        """Write the request's access line, and its error record if it failed."""
        self.access_log(facts)


def _configure(settings: ChassisSettings) -> None:
    if settings.log_configure:
        configure_logging(json=settings.log_json, level=settings.log_level)
