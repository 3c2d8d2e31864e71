"""Routes per API version, Stripe-style: each version inherits what it does not change.

Plugins contribute routers per version through the ``chassis_routers(version,
settings)`` hook. Version N serves every route of version N-1 that it does not
replace (a route with the same path and method) or withdraw (a
:func:`removed_route` marker), plus its own. All versions live in one
application, so middleware, exception handlers and ``app.dependency_overrides``
reach every version.

Starlette matches routes by path and method only, so the version is part of
routing: :class:`VersionedRoutes` is a single route of the application that
holds a route table per version, worked out when the application is built, and
matches a request against the table of the version that
:class:`~fastapi_chassis.api.APIVersionMiddleware` chose. A route inherited
unchanged is the same route object in every version that serves it; a path
operation with several methods becomes one route per method, so a later
version can replace or remove each, and ``405 Method Not Allowed`` lists, in
its ``Allow`` header, the methods the requested version serves on the path.

Routes outside versioning (health, metrics, docs, routes added with
``chassis_configure_app``) are ordinary routes of the application and answer
whatever version is asked for. An unknown or retired version is refused (400 or
410) only on the paths some version serves; elsewhere the header is ignored.

Within a version, routes on new paths are matched before the inherited ones, so
a new ``/orders/recent`` is not hidden by an inherited ``/orders/{id}``, and a
route that replaces another takes its place in the order, so the order that
worked in the earlier version keeps working.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from fastapi import APIRouter
from fastapi.datastructures import Default
from fastapi.routing import APIRoute, APIWebSocketRoute, RouteContext, iter_route_contexts
from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse
from starlette.routing import BaseRoute, Match, NoMatchFound, Route, WebSocketRoute
from typing_extensions import override

from fastapi_chassis.api.facts import facts_for
from fastapi_chassis.api.versioning import (
    VERSION_SCOPE_KEY,
    VersionRefusal,
    answer_refusal,
    check_api_versions,
)
from fastapi_chassis.api.versioning_openapi import install_versioned_docs
from fastapi_chassis.errors import ConfigurationError

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.datastructures import URLPath
    from starlette.types import Lifespan, Receive, Scope, Send

    from fastapi_chassis.settings import ChassisSettings

__all__ = [
    "RemovedRoute",
    "VersionedRoutes",
    "build_versioned_routes",
    "install_versioned_routes",
    "removed_route",
    "versioned_routes",
]

_SELECTED = "fastapi_chassis.versioned_route"
_PARAMETER = re.compile(r"\{[^}]*\}")
_WEBSOCKET = "WEBSOCKET"


def _path_key(path: str) -> str:
    # /items/{id}, /items/{item_id} and /items/{id:int} are one path to a client.
    return _PARAMETER.sub("{}", path)


@dataclass(frozen=True, slots=True)
class RemovedRoute:
    """A route an API version stops serving; made by :func:`removed_route`.

    Attributes:
        method: The HTTP method, upper case (``WEBSOCKET`` for a websocket route).
        path: The path as the earlier version declared it; parameter names and
            converters do not matter (``/items/{id}`` matches ``/items/{item_id:int}``).
    """

    method: str
    path: str

    @property
    def key(self) -> tuple[str, str]:
        """The path and method this marker withdraws, as routes are compared."""
        return _path_key(self.path), self.method


def removed_route(method: str, path: str) -> RemovedRoute:
    """Withdraw a route of earlier API versions from this version and the later ones.

    Return it from ``chassis_routers`` alongside the version's routers; the
    route then answers 404 (or 405, if the path keeps other methods) under this
    version, and keeps working under the earlier ones.

    Args:
        method: The HTTP method (``"GET"``), or ``"WEBSOCKET"``.
        path: The route's path, with its prefixes (``"/orders/{order_id}"``).

    Raises:
        ValueError: If the method or path is malformed.

    Example:
        ```python
        @hookimpl
        def chassis_routers(version):
            if version == "2":
                return [orders_v2.router, removed_route("GET", "/orders/legacy")]
            return None
        ```
    """
    method = method.upper()
    if not method.isalpha():
        raise ValueError(f"{method!r} is not an HTTP method")
    if not path.startswith("/"):
        raise ValueError(f"route paths start with '/': {path!r}")
    return RemovedRoute(method, path)


@dataclass(frozen=True, slots=True, eq=False)
class _Contribution:
    """One route contributed for a version, with the effective path and options."""

    context: RouteContext
    version: str
    #: The form limits of the router the route was contributed with, which
    #: FastAPI applies when that router is included.
    router_form_limits: Mapping[str, int]

    @property
    def methods(self) -> frozenset[str]:
        if isinstance(self.context.original_route, WebSocketRoute):
            return frozenset({_WEBSOCKET})
        methods: set[str] | None = self.context.methods
        return frozenset(methods or ())

    @property
    def path(self) -> str:
        path: str | None = self.context.path
        return path or ""

    def operations(self) -> Iterator[tuple[str, str]]:
        path = _path_key(self.path)
        for method in sorted(self.methods):
            yield path, method

    def describe(self) -> str:
        return f"{'/'.join(sorted(self.methods))} {self.path}"


def _check_route(contribution: _Contribution) -> None:
    original = contribution.context.original_route
    kinds = (APIRoute, Route, APIWebSocketRoute, WebSocketRoute)
    if not isinstance(original, kinds):
        raise ConfigurationError(
            f"API version {contribution.version}: versioned routers hold path operations "
            f"and websocket routes, not {type(original).__name__} "
            f"({getattr(original, 'path', '?')}); mount applications and static files "
            "in chassis_configure_app"
        )
    if not contribution.path.startswith("/"):
        raise ConfigurationError(
            f"API version {contribution.version}: route {getattr(original, 'name', '?')} "
            "has an empty path; give it one or include its router with a prefix"
        )
    if not contribution.methods:
        raise ConfigurationError(
            f"API version {contribution.version}: route {contribution.path} declares no "
            "methods; list them (methods=[...]) so versions can replace them one by one"
        )


def _rebuild(contribution: _Contribution, methods: frozenset[str], provider: object) -> BaseRoute:
    """Make the route a version serves, limited to ``methods``, bound to the application.

    FastAPI's own ``include_router`` made routes the same way for years (the
    route's class, called with its effective options); ``provider`` is the
    application, so ``dependency_overrides`` reach the route.
    """
    context = contribution.context
    original = context.original_route
    view = cast("Any", context)  # RouteContext forwards to the route FastAPI built
    if isinstance(original, APIRoute):
        options: dict[str, Any] = {}
        form_limits = {
            **contribution.router_form_limits,
            **(getattr(original, "form_limits", None) or {}),
        }
        if form_limits:
            options["form_limits"] = form_limits
        # A streaming endpoint's item type is inferred with the response model:
        # hand the inference over again rather than its result.
        response_model = Default(None) if view.stream_item_type is not None else view.response_model
        return type(original)(
            view.path,
            view.endpoint,
            response_model=response_model,
            status_code=view.status_code,
            tags=list(view.tags),
            dependencies=list(view.dependencies),
            summary=view.summary,
            description=view.description,
            response_description=view.response_description,
            responses=dict(view.responses),
            deprecated=view.deprecated,
            name=view.name,
            methods=sorted(methods),
            operation_id=view.operation_id,
            response_model_include=view.response_model_include,
            response_model_exclude=view.response_model_exclude,
            response_model_by_alias=view.response_model_by_alias,
            response_model_exclude_unset=view.response_model_exclude_unset,
            response_model_exclude_defaults=view.response_model_exclude_defaults,
            response_model_exclude_none=view.response_model_exclude_none,
            include_in_schema=view.include_in_schema,
            response_class=view.response_class,
            dependency_overrides_provider=provider,
            callbacks=list(view.callbacks) if view.callbacks else None,
            openapi_extra=view.openapi_extra,
            generate_unique_id_function=view.generate_unique_id_function,
            strict_content_type=view.strict_content_type,
            max_body_size=view.max_body_size,
            **options,
        )
    if isinstance(original, APIWebSocketRoute):
        return APIWebSocketRoute(
            view.path,
            view.endpoint,
            name=view.name,
            dependencies=list(view.dependencies),
            dependency_overrides_provider=provider,
        )
    if isinstance(original, WebSocketRoute):
        return WebSocketRoute(view.path, view.endpoint, name=view.name)
    return Route(
        view.path,
        view.endpoint,
        methods=sorted(methods),
        name=view.name,
        include_in_schema=view.include_in_schema,
    )


@dataclass(frozen=True, slots=True)
class _NotAllowed:
    """The path exists in this version, not with this method: 405 with ``Allow``."""

    allowed: str


class VersionedRoutes(BaseRoute):
    """The routes of every API version, as one route of the application.

    Args:
        tables: Each version's routes, in matching order.
        default: The version routed when the request carries no choice (no
            version middleware runs).
    """

    def __init__(self, tables: Mapping[str, Sequence[BaseRoute]], default: str) -> None:
        if default not in tables:
            raise ValueError(f"the default API version {default!r} has no route table")
        self._tables = {version: tuple(routes) for version, routes in tables.items()}
        self.default_version = default
        distinct: dict[int, BaseRoute] = {}
        for routes in self._tables.values():
            for route in routes:
                distinct.setdefault(id(route), route)
        self._every_route = tuple(distinct.values())
        newest_first = [version for version in reversed(self._tables) if version != default]
        self._lookup_order = (default, *newest_first)

    @property
    def versions(self) -> tuple[str, ...]:
        """The versions, oldest first."""
        return tuple(self._tables)

    def routes_for(self, version: str) -> list[BaseRoute]:
        """Return the routes ``version`` serves, in matching order.

        Raises:
            KeyError: If ``version`` is not one of :attr:`versions`.
        """
        return list(self._tables[version])

    @override
    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        """Match against the routes of the version chosen for the request."""
        chosen = scope.get(VERSION_SCOPE_KEY, self.default_version)
        table = self._tables.get(chosen) if isinstance(chosen, str) else None
        if table is None:
            return self._match_refused(scope, chosen)
        allowed: set[str] | None = None
        partial: Scope = {}
        for route in table:
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                child_scope["route"] = child_scope[_SELECTED] = route
                return match, child_scope
            if match is Match.PARTIAL:
                if allowed is None:
                    allowed = set()
                    partial = child_scope
                    partial["route"] = route
                allowed.update(getattr(route, "methods", None) or ())
        if allowed is None:
            return Match.NONE, {}
        partial[_SELECTED] = _NotAllowed(", ".join(sorted(allowed)))
        return Match.PARTIAL, partial

    def _match_refused(self, scope: Scope, chosen: object) -> tuple[Match, Scope]:
        # The version cannot be served: refuse on the paths versions serve, and
        # leave every other path to the routes outside versioning (or a 404).
        if not isinstance(chosen, VersionRefusal):
            return Match.NONE, {}
        for route in self._every_route:
            match, _ = route.matches(scope)
            if match is not Match.NONE:
                return Match.FULL, {"route": route, _SELECTED: chosen}
        return Match.NONE, {}

    @override
    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the route that :meth:`matches` selected, or answer 405 or the refusal."""
        selected = scope[_SELECTED]
        if isinstance(selected, BaseRoute):
            if VERSION_SCOPE_KEY not in scope:
                facts_for(scope).api_version = self.default_version
            await selected.handle(scope, receive, send)
        elif isinstance(selected, _NotAllowed):
            headers = {"Allow": selected.allowed}
            if "app" in scope:
                raise HTTPException(status_code=405, headers=headers)
            await PlainTextResponse("Method Not Allowed", 405, headers=headers)(
                scope, receive, send
            )
        else:
            await answer_refusal(selected, scope, send)

    @override
    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        """Find a route by name: in the default version first, then newest to oldest."""
        for version in self._lookup_order:
            for route in self._tables[version]:
                try:
                    return route.url_path_for(name, **path_params)
                except NoMatchFound:
                    continue
        raise NoMatchFound(name, path_params)

    @override
    def __repr__(self) -> str:
        sizes = ", ".join(f"{version}: {len(table)}" for version, table in self._tables.items())
        return f"{type(self).__name__}({sizes})"


def _split(version: str, items: Sequence[object]) -> tuple[list[APIRouter], list[RemovedRoute]]:
    routers: list[APIRouter] = []
    removals: list[RemovedRoute] = []
    for item in items:
        if isinstance(item, APIRouter):
            routers.append(item)
        elif isinstance(item, RemovedRoute):
            removals.append(item)
        else:
            raise ConfigurationError(
                f"chassis_routers for API version {version} returned {item!r}; expected "
                "fastapi.APIRouter objects and removed_route(...) markers"
            )
    return routers, removals


def _contributions(
    version: str, routers: Sequence[APIRouter]
) -> dict[tuple[str, str], _Contribution]:
    new: dict[tuple[str, str], _Contribution] = {}
    for router in routers:
        form_limits = dict(getattr(router, "form_limits", None) or {})
        for context in iter_route_contexts(router.routes):
            contribution = _Contribution(context, version, form_limits)
            _check_route(contribution)
            for key in contribution.operations():
                if key in new:
                    raise ConfigurationError(
                        f"API version {version} registers {key[1]} {contribution.path} twice "
                        f"(also as {new[key].describe()})"
                    )
                new[key] = contribution
    return new


def _signatures(
    served: Mapping[tuple[str, str], _Contribution],
) -> list[tuple[_Contribution, frozenset[str]]]:
    """The routes a version's table is made of: a contribution and the methods it keeps.

    A path operation with several methods becomes one route per method, as if
    declared once per method: each gets its own operation id in OpenAPI (FastAPI
    gives all methods of one route the same id), and a later version can
    replace or remove each method on its own.
    """
    grouped: dict[_Contribution, set[str]] = {}
    for (_, method), contribution in served.items():
        grouped.setdefault(contribution, set()).add(method)
    signatures: list[tuple[_Contribution, frozenset[str]]] = []
    for contribution, methods in grouped.items():
        if isinstance(contribution.context.original_route, APIRoute):
            signatures.extend((contribution, frozenset({method})) for method in sorted(methods))
        else:
            signatures.append((contribution, frozenset(methods)))
    return signatures


def build_versioned_routes(
    contributions: Mapping[str, Sequence[object]],
    *,
    default: str,
    dependency_overrides_provider: object = None,
) -> VersionedRoutes:
    """Work out the route table of every API version.

    Args:
        contributions: For each version, oldest first, what the ``chassis_routers``
            hook returned: routers and :func:`removed_route` markers.
        default: The default version.
        dependency_overrides_provider: The application whose
            ``dependency_overrides`` the routes honour.

    Returns:
        The versioned routes, ready to add to the application's routes.

    Raises:
        ConfigurationError: If a version registers a path and method twice,
            removes a route no earlier version serves, contributes something that
            is neither a router nor a marker, or holds a mount.
    """
    served: dict[tuple[str, str], _Contribution] = {}
    made: dict[tuple[_Contribution, frozenset[str]], BaseRoute] = {}
    tables: dict[str, list[BaseRoute]] = {}
    for version, items in contributions.items():
        routers, removals = _split(version, items)
        new = _contributions(version, routers)
        withdrawn = set()
        for removal in removals:
            if removal.key in new:
                raise ConfigurationError(
                    f"API version {version} both serves and removes {removal.method} {removal.path}"
                )
            if removal.key not in served:
                raise ConfigurationError(
                    f"API version {version} removes {removal.method} {removal.path}, "
                    "which no earlier version serves"
                )
            withdrawn.add(removal.key)
        # New paths go first, so an inherited /items/{id} cannot hide a new
        # /items/recent; a replacement takes the place of the route it replaces,
        # so the order that worked in the earlier version keeps working.
        served = {
            **{key: route for key, route in new.items() if key not in served},
            **{key: new.get(key, old) for key, old in served.items() if key not in withdrawn},
        }
        table = []
        for signature in _signatures(served):
            if signature not in made:
                made[signature] = _rebuild(
                    signature[0], signature[1] - {_WEBSOCKET}, dependency_overrides_provider
                )
            table.append(made[signature])
        tables[version] = table
    return VersionedRoutes(tables, default)


def versioned_routes(app: FastAPI) -> VersionedRoutes | None:
    """Return the :class:`VersionedRoutes` of an application, if it has any."""
    for route in app.router.routes:
        if isinstance(route, VersionedRoutes):
            return route
    return None


_Lifespan = Callable[[object], AbstractAsyncContextManager[Mapping[str, Any] | None]]


def _merge_lifespans(app: FastAPI, routers: Sequence[APIRouter]) -> None:
    # include_router() used to merge each router's lifespan (and startup and
    # shutdown handlers) into the application's; keep doing it, once per router.
    nested = [cast("_Lifespan", router.lifespan_context) for router in routers]
    if not nested:
        return
    outer = cast("_Lifespan", app.router.lifespan_context)

    @asynccontextmanager
    async def lifespan(target: object) -> AsyncIterator[Mapping[str, Any] | None]:
        async with AsyncExitStack() as stack:
            states = [
                await stack.enter_async_context(context(target)) for context in (outer, *nested)
            ]
            if all(state is None for state in states):
                yield None
                return
            merged: dict[str, Any] = {}
            for state in reversed(states):  # the application's own state wins
                merged.update(state or {})
            yield merged

    app.router.lifespan_context = cast("Lifespan[Any]", lifespan)


def install_versioned_routes(
    app: FastAPI, contributions: Mapping[str, Sequence[object]], settings: ChassisSettings
) -> VersionedRoutes:
    """Give ``app`` the routes of every API version, and an OpenAPI document per version.

    ``create_app`` calls it with what ``chassis_routers`` returned for each version.

    Args:
        app: The application.
        contributions: For each configured version, oldest first, the routers and
            :func:`removed_route` markers contributed for it.
        settings: The settings (``default_api_version``, ``deprecated_api_versions``).

    Returns:
        The versioned routes, which are now one of the application's routes.

    Raises:
        ConfigurationError: If a version is not a short token (see
            :func:`~fastapi_chassis.api.versioning.check_api_versions`) or the
            contributions are inconsistent (see :func:`build_versioned_routes`).
    """
    try:
        check_api_versions(list(contributions))
    except ValueError as error:
        raise ConfigurationError(str(error)) from error
    default = settings.default_api_version or settings.api_versions[0]
    versioned = build_versioned_routes(
        contributions, default=default, dependency_overrides_provider=app
    )
    app.router.routes.append(versioned)
    routers: dict[int, APIRouter] = {}
    for items in contributions.values():
        for item in items:
            if isinstance(item, APIRouter):
                routers.setdefault(id(item), item)
    _merge_lifespans(app, list(routers.values()))
    install_versioned_docs(app, versioned, settings)
    return versioned
