"""Per-request database work: how many SQL statements a request ran, and for how long.

:func:`install_query_timing` listens to an engine's ``before_cursor_execute`` and
``after_cursor_execute`` events (and ``handle_error``, so failing statements
count too) and adds every statement to the
:class:`~fastapi_chassis.api.facts.RequestFacts` of the request that ran it,
found with :func:`~fastapi_chassis.api.facts.current_facts`. The metrics
middleware, the access line and the ``chassis_request_finished`` hook read the
totals from there.

The request's facts live in a context variable, and SQLAlchemy's asyncio layer
runs the statement events inside a greenlet that it starts with the context of
the awaiting task, so the events see the request that awaited the statement,
through ``get_session``, a repository or a connection of one's own. Statements
run outside any request (start-up, jobs) are not counted anywhere.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from fastapi_chassis.api.facts import RequestFacts, current_facts

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine, ExceptionContext, ExecutionContext
    from sqlalchemy.engine.interfaces import DBAPICursor

__all__ = ["install_query_timing", "query_timing_installed", "remove_query_timing"]

# Set on SQLAlchemy's per-statement ExecutionContext between the two events: the
# request the statement belongs to, and when it started.
_STARTED = "_fastapi_chassis_query"


def _before_cursor_execute(
    _conn: Connection,
    _cursor: DBAPICursor,
    _statement: str,
    _parameters: object,
    context: ExecutionContext | None,
    _executemany: bool,  # noqa: FBT001
) -> None:
    facts = current_facts()
    if facts is None or context is None:
        return
    facts.db_queries += 1
    setattr(context, _STARTED, (facts, time.perf_counter()))


def _after_cursor_execute(
    _conn: Connection,
    _cursor: DBAPICursor,
    _statement: str,
    _parameters: object,
    context: ExecutionContext | None,
    _executemany: bool,  # noqa: FBT001
) -> None:
    _add_time(context)


def _handle_error(exception_context: ExceptionContext) -> None:
    _add_time(exception_context.execution_context)


def _add_time(context: ExecutionContext | None) -> None:
    started: tuple[RequestFacts, float] | None = getattr(context, _STARTED, None)
    if started is None:
        return
    # One context can run several statements (insertmanyvalues batches): each
    # batch sets the start again, and clearing it keeps an error from adding twice.
    setattr(context, _STARTED, None)
    facts, start = started
    facts.db_time += time.perf_counter() - start


_LISTENERS = (
    ("before_cursor_execute", _before_cursor_execute),
    ("after_cursor_execute", _after_cursor_execute),
    ("handle_error", _handle_error),
)


def _sync_engine(engine: AsyncEngine | Engine) -> Engine:
    return engine.sync_engine if isinstance(engine, AsyncEngine) else engine


def install_query_timing(engine: AsyncEngine | Engine) -> None:
    """Count statements and database time per request on ``engine``.

    Installing twice is harmless. The ``chassis.metrics`` plugin installs it on the
    application's engine at start-up; call it yourself for an engine of your own.

    Args:
        engine: An :class:`~sqlalchemy.ext.asyncio.AsyncEngine` or a synchronous
            :class:`~sqlalchemy.engine.Engine`.

    Example:
        >>> engine = create_engine(settings)
        >>> install_query_timing(engine)
    """
    target = _sync_engine(engine)
    for name, listener in _LISTENERS:
        if not event.contains(target, name, listener):
            event.listen(target, name, listener)


def remove_query_timing(engine: AsyncEngine | Engine) -> None:
    """Stop counting statements on ``engine`` (harmless if it was not counting).

    Args:
        engine: The engine given to :func:`install_query_timing`.
    """
    target = _sync_engine(engine)
    for name, listener in _LISTENERS:
        if event.contains(target, name, listener):
            event.remove(target, name, listener)


def query_timing_installed(engine: AsyncEngine | Engine) -> bool:
    """Return whether :func:`install_query_timing` is in effect on ``engine``.

    Args:
        engine: The engine to look at.
    """
    return event.contains(_sync_engine(engine), "before_cursor_execute", _before_cursor_execute)
