"""Every hook a fastapi-chassis plugin can implement.

A plugin is any object (usually a module or a class instance) with functions
marked ``@hookimpl`` whose names match the specifications below; it implements
only the hooks it needs, and may accept only some of a hook's arguments. Plugins
come from the ``fastapi_chassis`` entry-point group and from
``create_app(plugins=[...])``; the built-in features are plugins too.

Hooks are called in plugin order: the built-in plugins, then entry-point plugins
(by name), then those given to ``create_app``, each group in the order given;
``@hookimpl(tryfirst=True)`` and ``trylast=True`` move an implementation to the
front or the back. A hook that returns nothing (``None``) contributes nothing.
Hooks named ``startup``, ``shutdown`` and the readiness checks may be ``async def``:
the chassis awaits each implementation in turn (pluggy itself has no async
hooks). An exception from an implementation stops start-up with a
:class:`~fastapi_chassis.plugins.PluginError` naming the plugin and the hook.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from typing import TYPE_CHECKING

from fastapi_chassis.plugins.markers import hookspec

if TYPE_CHECKING:
    import typer
    from fastapi import FastAPI
    from sqlalchemy import MetaData

    from fastapi_chassis.api.facts import RequestFacts
    from fastapi_chassis.plugins.contributions import MiddlewareSpec, ReadinessCheck
    from fastapi_chassis.settings import ChassisSettings

__all__ = ["ChassisHookspecs"]


class ChassisHookspecs:
    """The hook specifications of the ``fastapi_chassis`` plugin project."""

    @hookspec
    def chassis_adjust_settings(self, settings: ChassisSettings) -> Mapping[str, object] | None:
        """Change settings before anything is built from them.

        Called once by ``create_app``, before any other hook. Receives the settings
        as adjusted by earlier plugins; returns a mapping of field names to new
        values (validated like any setting), or ``None`` to change nothing.

        Example:
            ```python
            @hookimpl
            def chassis_adjust_settings(settings):
                if settings.environment == "production":
                    return {"log_json": True, "db_pool_size": 20}
                return None
            ```
        """

    @hookspec
    def chassis_middleware(self, settings: ChassisSettings) -> Sequence[MiddlewareSpec] | None:
        """Contribute ASGI middleware, each with its position in the stack.

        Called once by ``create_app``. Returns :class:`MiddlewareSpec` records; a
        lower ``order`` sits further out (see :class:`MiddlewareOrder` for where the
        built-in layers are). Write middleware as pure ASGI: ``BaseHTTPMiddleware``
        buffers streaming responses and loses context variables.

        Example:
            ```python
            @hookimpl
            def chassis_middleware(settings):
                return [MiddlewareSpec(TenantMiddleware, {"header": "X-Tenant"},
                                       order=MiddlewareOrder.CORRELATION + 1)]
            ```
        """

    @hookspec
    def chassis_routers(self, version: str, settings: ChassisSettings) -> Sequence[object] | None:
        """Contribute the routers of one API version.

        Called by ``create_app`` once per configured API version, oldest first.
        Returns :class:`fastapi.APIRouter` objects and, to withdraw a route that an
        earlier version served, ``removed_route(method, path)`` markers. A version
        serves every route of earlier versions that it does not replace (same path
        and method) or remove.

        Example:
            ```python
            @hookimpl
            def chassis_routers(version, settings):
                if version == "1":
                    return [orders_v1.router]
                if version == "2":
                    return [orders_v2.router, removed_route("GET", "/orders/legacy")]
                return None
            ```
        """

    @hookspec
    def chassis_configure_app(self, app: FastAPI, settings: ChassisSettings) -> None:
        """Adjust the FastAPI application once it is built.

        Called once by ``create_app`` after middleware and versioned routers are in
        place. Use it for what no other hook covers: exception handlers, routes
        outside API versioning (health, metrics), mounted sub-applications.

        Example:
            ```python
            @hookimpl
            def chassis_configure_app(app, settings):
                app.add_exception_handler(PaymentDeclined, payment_declined_handler)
                app.mount("/static", StaticFiles(directory="static"))
            ```
        """

    @hookspec
    def chassis_metadata(self) -> Sequence[MetaData] | MetaData | None:
        """Declare the SQLAlchemy metadata whose tables the plugin owns.

        Called by tools that need the whole schema: the test plugin (to create the
        test database), migration helpers and ``chassis`` CLI commands. Returns a
        :class:`~sqlalchemy.MetaData` or several.

        Example:
            ```python
            @hookimpl
            def chassis_metadata():
                from myapp.models import Base
                return Base.metadata
            ```
        """

    @hookspec
    def chassis_readiness_checks(
        self, settings: ChassisSettings, app: FastAPI
    ) -> Sequence[ReadinessCheck] | None:
        """Contribute checks to ``GET /health/ready``.

        Called once at start-up, after every plugin's ``chassis_startup``, with the
        settings and the application (``app.state.chassis`` holds the engine and
        sessionmaker, so a check can use the application's database). Returns
        :class:`ReadinessCheck` records; each check is a function (async or not)
        that raises when its dependency is unusable. Checks run concurrently, each
        with its own timeout.

        Example:
            ```python
            @hookimpl
            def chassis_readiness_checks(settings, app):
                async def redis_ping():
                    await app.state.redis.ping()
                return [ReadinessCheck("redis", redis_ping, timeout=1.0)]
            ```
        """

    @hookspec
    def chassis_event_types(self) -> Sequence[type] | None:
        """Register domain event classes with the event registry.

        Called when the event registry is built (at start-up and by
        ``chassis events`` commands). Returns ``DomainEvent`` subclasses.

        Example:
            ```python
            @hookimpl
            def chassis_event_types():
                return [OrderPlaced, OrderShipped]
            ```
        """

    @hookspec
    def chassis_event_publishers(self, settings: ChassisSettings) -> Sequence[object] | None:
        """Contribute publishers that the outbox relay delivers events to.

        Called when the relay starts. Returns publisher objects (for example a
        ``KafkaPublisher``).

        Example:
            ```python
            @hookimpl
            def chassis_event_publishers(settings):
                return [KafkaPublisher(bootstrap_servers="redpanda:9092")]
            ```
        """

    @hookspec
    def chassis_factories(self) -> Mapping[str, type] | None:
        """Bind the roles synthetic-data scenarios use to the application's factories.

        Called by the synthetic-data runner and the test plugin. Returns a mapping
        of role name (``"customer"``, ``"product"``, ``"order"``, ``"order_item"``) to
        an ``AsyncSQLAlchemyFactory`` subclass.

        Example:
            ```python
            @hookimpl
            def chassis_factories():
                return {"customer": CustomerFactory, "product": ProductFactory}
            ```
        """

    @hookspec
    def chassis_scenarios(self) -> Sequence[object] | None:
        """Contribute synthetic-data scenarios beyond the built-in ones.

        Called by ``chassis synth list|run`` and the synthetic-data endpoints.
        Returns ``Scenario`` objects.

        Example:
            ```python
            @hookimpl
            def chassis_scenarios():
                return [Scenario(name="summer-sale", days=14, daily_orders=800)]
            ```
        """

    @hookspec
    def chassis_cli(self, cli: typer.Typer) -> None:
        """Add commands to the ``chassis`` command line.

        Called when the ``chassis`` command starts, before it parses its arguments.
        Receives the root :class:`typer.Typer`; add commands or sub-applications
        to it. A command reads the application with
        :func:`fastapi_chassis.cli.current_app`.

        Example:
            ```python
            @hookimpl
            def chassis_cli(cli):
                @cli.command()
                def reindex() -> None:
                    search.rebuild_index()
            ```
        """

    @hookspec
    def chassis_startup(self, app: FastAPI) -> Awaitable[None] | None:
        """Run work when the application starts, after the database engine exists.

        Called from the lifespan, once per process, in plugin order; ``async def``
        implementations are awaited one after another. ``app.state.chassis`` holds
        the settings, engine and sessionmaker. An exception stops start-up.

        Example:
            ```python
            @hookimpl
            async def chassis_startup(app):
                app.state.http = httpx.AsyncClient()
            ```
        """

    @hookspec
    def chassis_shutdown(self, app: FastAPI) -> Awaitable[None] | None:
        """Release what :meth:`chassis_startup` acquired.

        Called from the lifespan in reverse plugin order, before the engine is
        disposed. Every implementation runs even if an earlier one fails; the
        failures are reported together.

        Example:
            ```python
            @hookimpl
            async def chassis_shutdown(app):
                await app.state.http.aclose()
            ```
        """

    @hookspec
    def chassis_request_finished(self, facts: RequestFacts) -> None:
        """Observe every finished HTTP request (performance monitoring, error tracking).

        Called once per request, after the response has been sent, with its
        :class:`RequestFacts`: method, route template, status, duration, API
        version, correlation id, escaped exception, database query count and time.
        Runs on the request path: keep it fast and never raise.

        Example:
            ```python
            @hookimpl
            def chassis_request_finished(facts):
                if facts.duration and facts.duration > 1.0:
                    slow_requests.labels(facts.route).inc()
            ```
        """
