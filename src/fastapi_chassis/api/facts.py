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

from fastapi.routing import APIRoute
from starlette.routing import Host, Mount, Route

if TYPE_CHECKING:
    from collections.abc import Sequence

    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from fastapi_chassis.context import RequestContext

__all__ = [
    "UNMATCHED_ROUTE",
    "RequestFacts",
    "begin_request",
    "current_facts",
    "end_request",
    "facts_for",
    "track_route_templates",
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
        mount_prefix: The templates of the mounts routing passed through on the way
            to the route (``/tenants/{tenant}``), filled in while the request is
            routed (see :func:`track_route_templates`).
        status: The response status, once the response started.
        exception: The exception that escaped the application, if any.
        duration: Seconds from ``started`` to the end of the response (its last
            body message; background tasks that run after it are not counted).
        db_queries: SQL statements executed for this request.
        db_time: Seconds spent executing them.
        response_started: Whether the response has started (headers sent).
        response_ended: ``time.perf_counter()`` when the last body message was
            sent, if it was.
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
    response_ended: float | None = None
    finished: bool = False

    @property
    def exception_type(self) -> str | None:
        """The qualified name of the escaped exception's type, if any."""
        if self.exception is None:
            return None
        kind = type(self.exception)
        return f"{kind.__module__}.{kind.__qualname__}"

    def observe(self, message: Message) -> None:
        """Record what a response message says: the status, or the end of the body.

        For layers that watch ``send``: ``http.response.start`` sets
        :attr:`status` and :attr:`response_started`, the last
        ``http.response.body`` sets :attr:`response_ended`.
        """
        kind = message["type"]
        if kind == "http.response.start":
            self.status = message["status"]
            self.response_started = True
        elif kind == "http.response.body" and not message.get("more_body"):
            self.response_ended = time.perf_counter()

    def resolve_route(self, scope: Scope) -> str:
        """Set and return :attr:`route` from what routing matched in ``scope``.

        Reads the route routing selected (``scope["route"]``, or the route FastAPI
        built for an included router) after the application has answered; nothing
        is matched again. See :func:`track_route_templates` for mounts.
        """
        template = _matched_template(scope, self.status)
        self.route = UNMATCHED_ROUTE if template is None else self.mount_prefix + template
        return self.route

    def finish(self, scope: Scope) -> None:
        """Record the duration and route; called once, by the outermost chassis layer."""
        if self.finished:
            return
        self.finished = True
        # To the last byte of the response: background tasks run after it.
        self.duration = (self.response_ended or time.perf_counter()) - self.started
        if self.route is None:
            self.resolve_route(scope)


_FASTAPI_SCOPE = "fastapi"
_EFFECTIVE_ROUTE = "effective_route_context"


def _effective_route(scope: Scope) -> object | None:
    # FastAPI includes routers lazily (0.16x): scope["route"] is then the route as
    # declared on its own router, without the include prefixes, and the route that
    # FastAPI built for this inclusion, with the full path, is kept here.
    fastapi_scope = scope.get(_FASTAPI_SCOPE)
    if not isinstance(fastapi_scope, dict):
        return None
    context: object | None = fastapi_scope.get(_EFFECTIVE_ROUTE)
    return context


def _path_format(route: object) -> str | None:
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return path if isinstance(path, str) else None


def _mount_template(mount: object) -> str:
    return (_path_format(mount) or "").removesuffix("/{path}")


def _matched_template(scope: Scope, status: int | None) -> str | None:
    """The template of the route routing selected, below the mounts; ``None`` if none."""
    route = scope.get("route")
    context = _effective_route(scope)
    endpoint = scope.get("endpoint")
    if route is None:
        # A plain Starlette route of an included router: FastAPI built a copy with
        # the full path and leaves scope["route"] unset; the endpoint identifies it.
        built = getattr(context, "starlette_route", None)
        if (
            endpoint is not None
            and built is not None
            and not isinstance(built, Mount)
            and getattr(built, "endpoint", None) is endpoint
        ):
            return _path_format(built)
        # A mounted application that is not a router (static files, a WSGI app):
        # the mount is the most specific thing that matched.
        if isinstance(endpoint, _MountEntered) and status != 404:  # noqa: PLR2004
            return "/{path}"
        return None
    if isinstance(route, Mount):
        # Starlette's router leaves the Mount in scope["route"] when the mounted
        # application found nothing (or is not a router).
        if status == 404:  # noqa: PLR2004
            return None
        return "/{path}" if isinstance(route.app, _MountEntered) else _path_format(route)
    if context is not None and getattr(context, "original_route", None) is route:
        return _path_format(getattr(context, "starlette_route", None) or context)
    return _path_format(route)


class _MountEntered:
    """Wraps a mount's application: adds the mount's template to the mount prefix."""

    __slots__ = ("app", "mount", "template")

    def __init__(self, app: ASGIApp, mount: object) -> None:
        self.app = app
        self.mount = mount
        self.template = _mount_template(mount)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        facts: RequestFacts | None = scope.get(SCOPE_KEY)
        if facts is not None:
            template = self.template
            context = _effective_route(scope)
            if context is not None and getattr(context, "original_route", None) is self.mount:
                # Mounted on an included router: FastAPI's copy has the full path.
                template = _mount_template(getattr(context, "starlette_route", None))
            facts.mount_prefix += template
        await self.app(scope, receive, send)


class _RouteEntered:
    """Wraps a plain Starlette route's application: records the route in the scope.

    FastAPI's router sets ``scope["route"]`` for its own routes only; a route added
    with ``add_route`` would otherwise leave no trace of its template.
    """

    __slots__ = ("app", "route")

    def __init__(self, app: ASGIApp, route: Route) -> None:
        self.app = app
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = self.route
        await self.app(scope, receive, send)


def track_route_templates(app: object) -> None:
    """Let the mounts and plain routes of ``app`` report what routing matched.

    ``scope["route"]`` names the innermost route, whose template lacks the prefix
    of the mounts in front of it (``/tenants/{tenant}``), and the scope keeps only
    the prefix's actual value (``root_path``). This wraps the application of every
    mount, recursively, in a small layer that adds the mount's template to
    :attr:`RequestFacts.mount_prefix` when routing enters it, and the application
    of every plain Starlette route in one that records the route in
    ``scope["route"]``. Routes and mounts added later are not wrapped. Calling it
    again wraps only what is new. :class:`~fastapi_chassis.app.ChassisApp` calls
    it when it builds its middleware stack, and its outermost layer and
    :class:`~fastapi_chassis.api.MetricsMiddleware` on their first request.

    Args:
        app: A Starlette or FastAPI application, or a router.
    """
    _track(getattr(app, "routes", None) or (), set())


def _track(routes: Sequence[object], seen: set[int]) -> None:
    if id(routes) in seen:
        return
    seen.add(id(routes))
    for route in routes:
        if isinstance(route, Mount):
            if not isinstance(route.app, _MountEntered):
                route.app = _MountEntered(route.app, route)
            _track(route.routes, seen)
        elif isinstance(route, Host):
            _track(route.routes, seen)
        elif isinstance(route, Route) and not isinstance(route, APIRoute):
            if not isinstance(route.app, _RouteEntered):
                route.app = _RouteEntered(route.app, route)
        else:
            _track_included_router(route, seen)


def _track_included_router(route: object, seen: set[int]) -> None:
    # FastAPI's lazily included router: walk the router it includes, then the
    # copies of its mounts that FastAPI already built with the full path.
    original = getattr(route, "original_router", None)
    if original is None:
        return
    _track(getattr(original, "routes", ()), seen)
    contexts = getattr(route, "effective_route_contexts", None)
    if not callable(contexts):
        return
    for context in contexts():
        built = getattr(context, "starlette_route", None)
        if isinstance(built, Mount) and not isinstance(built.app, _MountEntered):
            built.app = _MountEntered(built.app, getattr(context, "original_route", built))


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
    facts = RequestFacts(scope.get("method", ""), scope.get("path", ""))
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
