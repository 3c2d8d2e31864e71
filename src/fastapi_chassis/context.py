"""Who is acting, and on behalf of which request: one context for logs, audit and events.

A :class:`RequestContext` lives in a :class:`~contextvars.ContextVar`, so it follows
the code that runs for a request, including tasks it starts with
:func:`asyncio.create_task` and FastAPI background tasks (both copy the current
context). The correlation middleware enters it for every request; jobs, CLI
commands and tests enter it with :func:`request_context`:

    with request_context(actor="alice", correlation_id="c-123"):
        ...  # log lines, audited changes and recorded events carry both

Log lines read it through a structlog processor, database transactions copy it
into transaction-local settings for the audit triggers, and recorded events put
the correlation id in their envelope. Nothing is copied per request: they all
read the same object.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, replace

__all__ = [
    "RequestContext",
    "bind_context",
    "current_context",
    "current_correlation_id",
    "request_context",
    "set_actor",
    "unbind_context",
]


@dataclass(slots=True)
class RequestContext:
    """What is known about the current unit of work.

    Attributes:
        correlation_id: Ties together everything done for one request or job.
        actor: Who is acting (a user id, a service name); ``None`` when unknown.
        trace_id: The W3C trace id (32 hex digits), when a ``traceparent`` came in.
        traceparent: The incoming W3C ``traceparent`` header, passed on downstream.
    """

    correlation_id: str | None = None
    actor: str | None = None
    trace_id: str | None = None
    traceparent: str | None = None


_EMPTY = RequestContext()
_current: ContextVar[RequestContext] = ContextVar("fastapi_chassis_request_context", default=_EMPTY)

_UNSET: str = "\x00unset"


def current_context() -> RequestContext:
    """Return the context of the code that is running (empty outside any request)."""
    return _current.get()


def current_correlation_id() -> str | None:
    """Return the current correlation id, or ``None`` outside a request or job."""
    return _current.get().correlation_id


@contextmanager
def request_context(
    *,
    correlation_id: str | None = _UNSET,
    actor: str | None = _UNSET,
    trace_id: str | None = _UNSET,
    traceparent: str | None = _UNSET,
) -> Iterator[RequestContext]:
    """Run a block in a context; fields not given are inherited from the enclosing one.

    Args:
        correlation_id: The correlation id for the block.
        actor: Who is acting in the block.
        trace_id: The W3C trace id, if known.
        traceparent: The W3C ``traceparent`` to pass downstream, if any.

    Yields:
        The new context (a fresh object: changing it does not affect the outer one).

    Example:
        >>> with request_context(actor="nightly-import", correlation_id="job-42"):
        ...     current_context().actor
        'nightly-import'
    """
    outer = _current.get()
    changes = {
        name: value
        for name, value in (
            ("correlation_id", correlation_id),
            ("actor", actor),
            ("trace_id", trace_id),
            ("traceparent", traceparent),
        )
        if value is not _UNSET
    }
    context = replace(outer, **changes)
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def bind_context(context: RequestContext) -> Token[RequestContext]:
    """Make ``context`` current and return the token that :func:`unbind_context` needs.

    The low-level form of :func:`request_context` for middleware on the hot path.
    """
    return _current.set(context)


def unbind_context(token: Token[RequestContext]) -> None:
    """Restore the context that was current before :func:`bind_context`."""
    _current.reset(token)


def set_actor(actor: str | None) -> None:
    """Record who is acting, for the rest of the current request or job.

    Authentication dependencies call it once they know the user, so that audit
    rows and log lines written afterwards carry the actor.

    Raises:
        RuntimeError: Outside :func:`request_context` (there is no context to
            change, and setting one globally would leak into other requests).
    """
    context = _current.get()
    if context is _EMPTY:
        raise RuntimeError("set_actor() needs a request context; use request_context()")
    context.actor = actor
