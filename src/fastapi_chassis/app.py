"""``create_app()``: a FastAPI application assembled from plugins.

Everything the chassis adds to an application arrives through plugin hooks,
including its own features, which are ordinary plugins (see
:data:`BUILTIN_PLUGINS`). ``create_app`` registers the built-ins, the installed
entry-point plugins and the plugins it is given, lets them adjust the settings,
collects their middleware and routers, and returns an application whose lifespan
opens the database engine, runs the plugins' startup hooks, and on shutdown runs
their shutdown hooks and disposes of the engine.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from importlib import import_module
from importlib.util import find_spec
from typing import TYPE_CHECKING, TypeGuard

from fastapi import FastAPI
from pydantic import ValidationError
from typing_extensions import override

from fastapi_chassis.api.facts import track_route_templates
from fastapi_chassis.api.lifecycle import RequestFinished, RequestLifecycleMiddleware
from fastapi_chassis.api.versioning_routes import install_versioned_routes
from fastapi_chassis.db.engine import create_engine, create_sessionmaker
from fastapi_chassis.errors import ConfigurationError
from fastapi_chassis.gc_freeze import freeze_startup_objects, thaw
from fastapi_chassis.plugins.contributions import MiddlewareSpec
from fastapi_chassis.plugins.manager import ChassisPluginManager, PluginError, flatten
from fastapi_chassis.settings import ChassisSettings

if TYPE_CHECKING:
    from pluggy import HookImpl
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
    from starlette.types import ASGIApp

    from fastapi_chassis.api.facts import RequestFacts

logger = logging.getLogger("fastapi_chassis.app")

__all__ = ["BUILTIN_PLUGINS", "ChassisApp", "ChassisState", "create_app"]

BUILTIN_PLUGINS: tuple[tuple[str, str], ...] = (
    ("chassis.errors", "fastapi_chassis.api.errors:ErrorsPlugin"),
    ("chassis.trusted_hosts", "fastapi_chassis.api.hosts:TrustedHostsPlugin"),
    ("chassis.correlation", "fastapi_chassis.api.correlation:CorrelationPlugin"),
    ("chassis.body_limit", "fastapi_chassis.api.body_limit:BodyLimitPlugin"),
    ("chassis.cors", "fastapi_chassis.api.hosts:CorsPlugin"),
    ("chassis.transactions", "fastapi_chassis.api.sessions:TransactionPlugin"),
    ("chassis.versioning", "fastapi_chassis.api.versioning:VersioningPlugin"),
    ("chassis.metrics", "fastapi_chassis.observability.metrics:MetricsPlugin"),
    ("chassis.health", "fastapi_chassis.api.health:HealthPlugin"),
    ("chassis.logging", "fastapi_chassis.observability.access_log:LoggingPlugin"),
    ("chassis.synthetic", "fastapi_chassis.synthetic.plugin:SyntheticPlugin"),
    ("chassis.outbox", "fastapi_chassis.events.plugin:OutboxPlugin"),
    ("chassis.audit", "fastapi_chassis.db.audit.plugin:AuditPlugin"),
    # Only where OpenTelemetry is installed; find_spec runs none of its code.
    *(
        [("chassis.otel", "fastapi_chassis.observability.otel:OpenTelemetryPlugin")]
        if find_spec("opentelemetry") and find_spec("opentelemetry.trace")
        else []
    ),
)
"""The built-in plugins, by name, in registration order; each can be disabled by name."""


@dataclass
class ChassisState:
    """What the application keeps in ``app.state.chassis``.

    Attributes:
        settings: The settings, after plugins adjusted them.
        plugins: The plugin manager.
        engine: The database engine, while the application runs (``None`` without a
            database URL).
        sessionmaker: The session factory for ``engine``.
        draining: Set when the process was asked to stop; readiness then fails.
    """

    settings: ChassisSettings
    plugins: ChassisPluginManager
    engine: AsyncEngine | None = None
    sessionmaker: async_sessionmaker[AsyncSession] | None = None
    draining: bool = False
    extras: dict[str, object] = field(default_factory=dict)


class ChassisApp(FastAPI):
    """A FastAPI application whose plugin middleware wraps Starlette's own stack.

    The plugins' middleware, sorted by order, sits outside Starlette's error
    handling, so correlation ids and metrics also cover unhandled 500s; the
    outermost layer is :class:`RequestLifecycleMiddleware`.
    """

    chassis_middleware: Sequence[MiddlewareSpec] = ()
    chassis_request_finished: Sequence[RequestFinished] = ()

    @override
    def build_middleware_stack(self) -> ASGIApp:
        # Starlette builds the stack on the first call (lifespan or request), once
        # every route and mount is in place: the moment to let mounts report the
        # route templates they lead to.
        track_route_templates(self)
        app = super().build_middleware_stack()
        ordered = sorted(
            enumerate(self.chassis_middleware), key=lambda item: (item[1].order, item[0])
        )
        for _, spec in reversed(ordered):
            app = spec.cls(app, **spec.options)
        return RequestLifecycleMiddleware(app, on_finished=self.chassis_request_finished)


def _load_builtin(path: str) -> object:
    module_name, _, attribute = path.partition(":")
    plugin_class = getattr(import_module(module_name), attribute)
    return plugin_class()


def _register_plugins(
    manager: ChassisPluginManager, settings: ChassisSettings, plugins: Iterable[object]
) -> None:
    disabled = set(settings.disabled_plugins)
    for name in disabled:
        manager.block(name)
    for name, path in BUILTIN_PLUGINS:
        if name not in disabled:
            manager.register(_load_builtin(path), name, source="builtin")
    manager.load_entry_points(settings.plugins_allowlist)
    for plugin in plugins:
        manager.register(plugin)


def _adjust_settings(manager: ChassisPluginManager, settings: ChassisSettings) -> ChassisSettings:
    for impl in manager.implementations("chassis_adjust_settings"):
        changes = manager.invoke(impl, "chassis_adjust_settings", {"settings": settings})
        if not changes:
            continue
        if not isinstance(changes, Mapping):
            raise PluginError(
                impl.plugin_name,
                "chassis_adjust_settings",
                TypeError(f"expected a mapping of setting names to values, got {changes!r}"),
            )
        try:
            # model_validate, unlike the constructor, reads no environment: the
            # adjusted values are the only input besides the current settings.
            settings = ChassisSettings.model_validate({**settings.model_dump(), **changes})
        except ValidationError as error:
            raise PluginError(impl.plugin_name, "chassis_adjust_settings", error) from error
    return settings


_FINISHED = "chassis_request_finished"


def _finished_callbacks(manager: ChassisPluginManager) -> list[RequestFinished]:
    # Called on every request, so each implementation becomes a direct callback;
    # with tracing on, they go through the manager, which logs each call.
    if manager.trace:
        return [
            partial(_invoke_traced, manager, impl) for impl in manager.implementations(_FINISHED)
        ]
    return [_attributed(impl) for impl in manager.implementations(_FINISHED)]


def _invoke_traced(manager: ChassisPluginManager, impl: HookImpl, facts: RequestFacts) -> None:
    manager.invoke(impl, _FINISHED, {"facts": facts})


def _attributed(impl: HookImpl) -> RequestFinished:
    """Call one implementation; an error it raises names the plugin."""
    function = impl.function
    plugin = impl.plugin_name
    takes_facts = bool(impl.argnames)

    def finished(facts: RequestFacts) -> None:
        try:
            if takes_facts:
                function(facts)
            else:
                function()
        except Exception as error:
            raise PluginError(plugin, _FINISHED, error) from error

    return finished


async def _start_plugins(app: FastAPI, state: ChassisState) -> None:
    """Run the startup hooks; if one fails, shut down what had started, then re-raise."""
    started: list[str] = []
    try:
        await state.plugins.acall("chassis_startup", app=app, completed=started)
    except BaseException:
        # Plugins whose startup never ran (the failing one and those after it)
        # have nothing to release; the others may hold tasks, handlers or clients.
        not_started = {
            impl.plugin_name for impl in state.plugins.implementations("chassis_startup")
        } - set(started)
        try:
            await state.plugins.acall(
                "chassis_shutdown", app=app, reverse=True, keep_going=True, skip=not_started
            )
        except ExceptionGroup:
            logger.exception("shutting down after a failed start-up failed too")
        raise


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: ChassisState = app.state.chassis
    if state.settings.database_url is not None:
        state.engine = create_engine(state.settings)
        state.sessionmaker = create_sessionmaker(state.engine)
    try:
        await _start_plugins(app, state)
        if state.settings.gc_freeze:
            freeze_startup_objects()
        try:
            yield
        finally:
            if state.settings.gc_freeze:
                thaw()
        await state.plugins.acall("chassis_shutdown", app=app, reverse=True, keep_going=True)
    finally:
        if state.engine is not None:
            await state.engine.dispose()
            state.engine = None
            state.sessionmaker = None


def create_app(settings: ChassisSettings | None = None, plugins: Iterable[object] = ()) -> FastAPI:
    """Build a FastAPI application from settings and plugins.

    Args:
        settings: The settings; read from the environment when omitted.
        plugins: Plugins (modules or objects with ``@hookimpl`` functions) to
            register after the built-in and entry-point ones.

    Returns:
        The application. ``app.state.chassis`` is its :class:`ChassisState`.

    Raises:
        PluginError: When a plugin fails to load or fails in a build-time hook.

    Example:
        >>> app = create_app(ChassisSettings(database_url="postgresql://app@db/shop"),
        ...                  plugins=[shop_plugin])
    """
    settings = settings if settings is not None else ChassisSettings()
    manager = ChassisPluginManager(trace=settings.plugins_trace)
    _register_plugins(manager, settings, plugins)
    settings = _adjust_settings(manager, settings)
    app = ChassisApp(
        title=settings.service_name,
        debug=False,
        lifespan=_lifespan,
    )
    app.state.chassis = ChassisState(settings=settings, plugins=manager)
    app.chassis_middleware = [
        spec
        for spec in flatten(manager.call("chassis_middleware", settings=settings))
        if _is_middleware_spec(spec)
    ]
    install_versioned_routes(
        app,
        {
            version: flatten(manager.call("chassis_routers", version=version, settings=settings))
            for version in settings.api_versions
        },
        settings,
    )
    manager.call("chassis_configure_app", app=app, settings=settings)
    app.chassis_request_finished = _finished_callbacks(manager)
    return app


def _is_middleware_spec(value: object) -> TypeGuard[MiddlewareSpec]:
    if not isinstance(value, MiddlewareSpec):
        raise ConfigurationError(
            f"chassis_middleware must return MiddlewareSpec objects, got {value!r}"
        )
    return True


def chassis_state(app: FastAPI) -> ChassisState:
    """Return the :class:`ChassisState` of an application made by :func:`create_app`.

    Raises:
        ConfigurationError: If ``app`` was not made by :func:`create_app`.
    """
    state = getattr(app.state, "chassis", None)
    if not isinstance(state, ChassisState):
        raise ConfigurationError("this application was not built with create_app()")
    return state
