"""The facts about one request, worked out once and read by every concern.

Logging, metrics, version headers, error rendering and the
``chassis_request_finished`` hook all need the same few facts: the route template
that matched, the correlation id, the API version served, the status, the
exception if any, how long it took and how much database work it did. Each
middleware used to find these out for itself (and prometheus-fastapi-instrumentator
re-matched routes to do so, which breaks with included routers, ``root_path`` and
mounts). Here the first chassis middleware to see a request creates a
:class:`RequestFacts` in the ASGI scope, the others fill in what they learn, and
the route template is read from what routing itself matched (``scope["route"]``)
after the application has answered.
"""

from __future__ import annotations

import time
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.types import Scope

    from fastapi_chassis.context import RequestContext

__all__ = [
    "UNMATCHED_ROUTE",
    "RequestFacts",
    "begin_request",
    "current_facts",
    "end_request",
    "facts_for",
]

SCOPE_KEY = "fastapi_chassis.facts"
UNMATCHED_ROUTE = "<unmatched>"
"""The route label of requests that matched no route (so 404 scans make one label)."""

_current: ContextVar[RequestFacts | None] = ContextVar("fastapi_chassis_facts", default=None)


@dataclass(slots=True, eq=False)
class RequestFacts:
    """What happened during one HTTP request.

    Attributes:
        method: The HTTP method.
        path: The raw path, as received (for logs; never a metric label).
        started: ``time.perf_counter()`` when the first chassis middleware saw it.
        correlation_id: The request's correlation id.
        trace_id: The W3C trace id from ``traceparent``, if one came in.
        context: The request's :class:`~fastapi_chassis.context.RequestContext`
            (correlation id, actor), still readable after the request ended.
        api_version: The API version served, once the version middleware chose it.
        route: The matched route template including mount prefixes (``/shop/products/{id}``),
            :data:`UNMATCHED_ROUTE` when nothing matched; known when the request ends.
        status: The response status, once the response started.
        exception: The exception that escaped the application, if any.
        duration: Seconds from ``started`` to the end of the response.
        db_queries: SQL statements executed for this request.
        db_time: Seconds spent executing them.
        response_started: Whether the response has started (headers sent).
    """

    method: str
    path: str
    started: float = field(default_factory=time.perf_counter)
    correlation_id: str | None = None
    trace_id: str | None = None
    context: RequestContext | None = None
    api_version: str | None = None
    route: str | None = None
    mount_prefix: str = ""
    status: int | None = None
    exception: BaseException | None = None
    duration: float | None = None
    db_queries: int = 0
    db_time: float = 0.0
    response_started: bool = False
    finished: bool = False

    @property
    def exception_type(self) -> str | None:
        """The qualified name of the escaped exception's type, if any."""
        if self.exception is None:
            return None
        kind = type(self.exception)
        return f"{kind.__module__}.{kind.__qualname__}"

    def resolve_route(self, scope: Scope) -> str:
        """Set and return :attr:`route` from what routing matched in ``scope``."""
        route = scope.get("route")
        path = getattr(route, "path_format", None) or getattr(route, "path", None)
        if path is None or (self.status == 404 and _is_fallback(route)):  # noqa: PLR2004
            self.route = UNMATCHED_ROUTE
        else:
            self.route = self.mount_prefix + path
        return self.route

    def finish(self, scope: Scope) -> None:
        """Record the duration and route; called once, by the outermost chassis layer."""
        if self.finished:
            return
        self.finished = True
        self.duration = time.perf_counter() - self.started
        if self.route is None:
            self.resolve_route(scope)


def _is_fallback(route: object) -> bool:
    # A Mount whose sub-application found nothing leaves the Mount itself in
    # scope["route"]: the request matched a prefix, not a route.
    return type(route).__name__ == "Mount"


def facts_for(scope: Scope) -> RequestFacts:
    """Return the facts of the request in ``scope``, creating them if none exist yet.

    A middleware that may be the first chassis layer uses :func:`begin_request`
    instead, so the facts are finished and unbound when the request ends.
    """
    facts: RequestFacts | None = scope.get(SCOPE_KEY)
    if facts is None:
        facts = RequestFacts(method=scope.get("method", ""), path=scope.get("path", ""))
        scope[SCOPE_KEY] = facts
    return facts


def begin_request(scope: Scope) -> tuple[RequestFacts, Token[RequestFacts | None] | None]:
    """Start the facts of a request, or join those an outer layer started.

    Returns:
        The facts, and a token when this call created them: the caller then owns
        them and must call :func:`end_request` with the token when the request ends.
    """
    facts: RequestFacts | None = scope.get(SCOPE_KEY)
    if facts is not None:
        return facts, None
    facts = RequestFacts(method=scope.get("method", ""), path=scope.get("path", ""))
    scope[SCOPE_KEY] = facts
    return facts, _current.set(facts)


def end_request(scope: Scope, facts: RequestFacts, token: Token[RequestFacts | None]) -> None:
    """Finish the facts started by :func:`begin_request` and unbind them from the task."""
    facts.finish(scope)
    _current.reset(token)


def current_facts() -> RequestFacts | None:
    """Return the facts of the request being handled by this task, if any.

    Used where there is no scope at hand, such as SQLAlchemy's statement events,
    which count queries and database time per request.
    """
    return _current.get()
