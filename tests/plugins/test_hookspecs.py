"""Every hook, exercised through the part of the chassis that calls it.

Hooks whose callers arrive with later capabilities (events, synthetic data,
migrations) are proven callable through the manager with the arguments their
specification names, by a plugin that implements every hook with its full
signature (so pluggy validates each one).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Mapping

import pytest
import typer
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import MetaData, text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fastapi_chassis import ChassisSettings, create_app, hookimpl
from fastapi_chassis.api import SessionDep
from fastapi_chassis.api.facts import UNMATCHED_ROUTE, RequestFacts
from fastapi_chassis.context import current_correlation_id
from fastapi_chassis.errors import ConfigurationError
from fastapi_chassis.plugins import (
    ChassisPluginManager,
    MiddlewareOrder,
    MiddlewareSpec,
    PluginError,
    ReadinessCheck,
)
from fastapi_chassis.plugins.hookspecs import ChassisHookspecs
from tests.api.conftest import running
from tests.plugins.conftest import build

HOOKS = sorted(name for name in vars(ChassisHookspecs) if name.startswith("chassis_"))

# Hooks tested below through create_app, its lifespan and its requests; the
# `chassis` command line calls chassis_cli (tests/test_cli.py).
THROUGH_THE_APPLICATION = {
    "chassis_adjust_settings",
    "chassis_middleware",
    "chassis_routers",
    "chassis_configure_app",
    "chassis_readiness_checks",
    "chassis_startup",
    "chassis_shutdown",
    "chassis_request_finished",
    "chassis_cli",
}
# Hooks whose callers are later capabilities: events, synthetic data, migrations.
FOR_LATER_CALLERS = {
    "chassis_metadata",
    "chassis_event_types",
    "chassis_event_publishers",
    "chassis_factories",
    "chassis_scenarios",
}


def test_every_hookspec_is_exercised_by_a_test() -> None:
    assert set(HOOKS) == THROUGH_THE_APPLICATION | FOR_LATER_CALLERS


class Everything:
    """Implements every hook with every argument its specification has."""

    name = "everything"
    metadata = MetaData()

    def __init__(self) -> None:
        self.calls: dict[str, dict[str, object]] = {}

    def _record(self, hook: str, **arguments: object) -> None:
        self.calls[hook] = arguments

    @hookimpl
    def chassis_adjust_settings(self, settings: ChassisSettings) -> None:
        self._record("chassis_adjust_settings", settings=settings)

    @hookimpl
    def chassis_middleware(self, settings: ChassisSettings) -> None:
        self._record("chassis_middleware", settings=settings)

    @hookimpl
    def chassis_routers(self, version: str, settings: ChassisSettings) -> None:
        self._record("chassis_routers", version=version, settings=settings)

    @hookimpl
    def chassis_configure_app(self, app: FastAPI, settings: ChassisSettings) -> None:
        self._record("chassis_configure_app", app=app, settings=settings)

    @hookimpl
    def chassis_metadata(self) -> MetaData:
        self._record("chassis_metadata")
        return self.metadata

    @hookimpl
    def chassis_readiness_checks(self, settings: ChassisSettings, app: FastAPI) -> None:
        self._record("chassis_readiness_checks", settings=settings, app=app)

    @hookimpl
    def chassis_event_types(self) -> list[type]:
        self._record("chassis_event_types")
        return [KeyError]

    @hookimpl
    def chassis_event_publishers(self, settings: ChassisSettings) -> list[object]:
        self._record("chassis_event_publishers", settings=settings)
        return ["publisher"]

    @hookimpl
    def chassis_factories(self) -> dict[str, type]:
        self._record("chassis_factories")
        return {"customer": dict}

    @hookimpl
    def chassis_scenarios(self) -> list[object]:
        self._record("chassis_scenarios")
        return ["black-friday"]

    @hookimpl
    def chassis_cli(self, cli: typer.Typer) -> None:
        self._record("chassis_cli", cli=cli)

    @hookimpl
    def chassis_startup(self, app: FastAPI) -> None:
        self._record("chassis_startup", app=app)

    @hookimpl
    def chassis_shutdown(self, app: FastAPI) -> None:
        self._record("chassis_shutdown", app=app)

    @hookimpl
    def chassis_request_finished(self, facts: RequestFacts) -> None:
        self._record("chassis_request_finished", facts=facts)


def _arguments(hook: str) -> dict[str, object]:
    values: Mapping[str, object] = {
        "settings": ChassisSettings.model_validate({}),
        "version": "1",
        "app": FastAPI(),
        "cli": typer.Typer(),
        "facts": RequestFacts(method="GET", path="/"),
    }
    parameters = inspect.signature(getattr(ChassisHookspecs, hook)).parameters
    return {name: values[name] for name in parameters if name != "self"}


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_callable_through_the_manager_with_its_specified_arguments(
    hook: str,
) -> None:
    plugin = Everything()
    manager = ChassisPluginManager()
    manager.register(plugin)
    arguments = _arguments(hook)

    manager.call(hook, **arguments)

    assert plugin.calls[hook] == arguments


@pytest.mark.parametrize(
    ("hook", "result"),
    [
        ("chassis_metadata", Everything.metadata),
        ("chassis_event_types", [KeyError]),
        ("chassis_event_publishers", ["publisher"]),
        ("chassis_factories", {"customer": dict}),
        ("chassis_scenarios", ["black-friday"]),
    ],
)
def test_hooks_for_later_callers_hand_back_what_plugins_return(hook: str, result: object) -> None:
    manager = ChassisPluginManager()
    manager.register(Everything())

    assert manager.call(hook, **_arguments(hook)) == [result]


# chassis_adjust_settings


def test_adjusted_settings_chain_from_plugin_to_plugin_and_reach_every_later_hook() -> None:
    seen: list[tuple[str, str]] = []

    class First:
        name = "first"

        @hookimpl
        def chassis_adjust_settings(self) -> dict[str, object]:
            return {"service_name": "orders", "api_versions": ["1", "2"]}

    class Second:
        name = "second"

        @hookimpl
        def chassis_adjust_settings(self, settings: ChassisSettings) -> dict[str, object]:
            return {"service_name": f"{settings.service_name}-eu"}

        @hookimpl
        def chassis_routers(self, version: str, settings: ChassisSettings) -> None:
            seen.append((version, settings.service_name))

    app = build([First(), Second()])

    assert app.state.chassis.settings.service_name == "orders-eu"
    assert app.title == "orders-eu"
    assert seen == [("1", "orders-eu"), ("2", "orders-eu")]


def test_an_invalid_adjusted_value_fails_naming_the_plugin() -> None:
    class Invalid:
        name = "invalid"

        @hookimpl
        def chassis_adjust_settings(self) -> dict[str, object]:
            return {"db_pool_size": 0}

    with pytest.raises(PluginError) as caught:
        build([Invalid()])

    assert (caught.value.plugin, caught.value.hook) == ("invalid", "chassis_adjust_settings")
    assert "db_pool_size" in str(caught.value)


def test_adjusting_with_something_other_than_a_mapping_fails_naming_the_plugin() -> None:
    class Confused:
        name = "confused"

        @hookimpl
        def chassis_adjust_settings(self) -> list[str]:
            return ["service_name", "x"]

    with pytest.raises(PluginError, match=r"'confused'.*chassis_adjust_settings.*mapping"):
        build([Confused()])


# chassis_middleware


class _SeesCorrelationId:
    """Reports on the response whether a correlation id was bound when it ran."""

    def __init__(self, app: ASGIApp, *, header: str) -> None:
        self.app = app
        self.header = header.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        seen = (current_correlation_id() or "none").encode()

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message["headers"], (self.header, seen)]
            await send(message)

        await self.app(scope, receive, send_with_header)


@pytest.mark.asyncio
async def test_middleware_sits_where_its_order_says_relative_to_the_builtin_layers() -> None:
    class Layers:
        name = "layers"

        @hookimpl
        def chassis_middleware(self) -> list[MiddlewareSpec]:
            return [
                MiddlewareSpec(_SeesCorrelationId, {"header": "x-inner"}),
                MiddlewareSpec(
                    _SeesCorrelationId,
                    {"header": "x-outer"},
                    order=MiddlewareOrder.CORRELATION - 1,
                ),
            ]

    async with running(build([Layers()])) as client:
        response = await client.get("/", headers={"X-Correlation-ID": "c-42"})

    assert response.headers["x-inner"] == "c-42"
    assert response.headers["x-outer"] == "none"


def test_middleware_that_is_not_a_middleware_spec_is_refused() -> None:
    class Raw:
        @hookimpl
        def chassis_middleware(self) -> list[object]:
            return [_SeesCorrelationId]

    with pytest.raises(ConfigurationError, match="MiddlewareSpec"):
        build([Raw()])


# chassis_routers and chassis_configure_app


class Teapot(Exception):
    pass


@pytest.mark.asyncio
async def test_routers_are_served_and_configure_app_sees_the_built_application() -> None:
    versions: list[str] = []

    class Shop:
        name = "shop"

        def __init__(self) -> None:
            self.router = APIRouter()

            @self.router.get("/brew")
            async def brew() -> None:
                raise Teapot

        @hookimpl
        def chassis_routers(self, version: str) -> list[APIRouter]:
            versions.append(version)
            return [self.router] if version == "1" else []

        @hookimpl
        def chassis_configure_app(self, app: FastAPI) -> None:
            async def teapot(request: Request, error: Exception) -> JSONResponse:
                return JSONResponse({"brewing": False}, status_code=418)

            app.add_exception_handler(Teapot, teapot)

    async with running(build([Shop()], api_versions=["1", "2"])) as client:
        response = await client.get("/brew")

    assert versions == ["1", "2"]
    assert response.status_code == 418
    assert response.json() == {"brewing": False}


# chassis_readiness_checks


@pytest.mark.asyncio
async def test_readiness_checks_from_plugins_decide_readiness() -> None:
    healthy = asyncio.Event()

    class Cache:
        name = "cache"

        @hookimpl
        def chassis_readiness_checks(self) -> list[ReadinessCheck]:
            async def ping() -> None:
                if not healthy.is_set():
                    raise ConnectionError("cache down")

            return [ReadinessCheck("cache", ping, timeout=1.0)]

    async with running(build([Cache()])) as client:
        down = await client.get("/health/ready/cache")
        healthy.set()
        up = await client.get("/health/ready/cache")

    assert (down.status_code, up.status_code) == (503, 200)


# chassis_startup and chassis_shutdown


@pytest.mark.asyncio
async def test_startup_runs_once_the_engine_exists_and_shutdown_before_it_is_disposed(
    chassis_database_url: str,
) -> None:
    seen: dict[str, bool] = {}

    class Pool:
        name = "pool"

        @hookimpl
        def chassis_startup(self, app: FastAPI) -> None:
            seen["engine at startup"] = app.state.chassis.engine is not None
            seen["sessionmaker at startup"] = app.state.chassis.sessionmaker is not None

        @hookimpl
        async def chassis_shutdown(self, app: FastAPI) -> None:
            seen["engine at shutdown"] = app.state.chassis.engine is not None

    settings = ChassisSettings.model_validate(
        {"database_url": chassis_database_url, "log_configure": False}
    )
    app = create_app(settings, plugins=[Pool()])
    async with running(app):
        pass

    assert seen == {
        "engine at startup": True,
        "sessionmaker at startup": True,
        "engine at shutdown": True,
    }
    assert app.state.chassis.engine is None


# chassis_request_finished


@pytest.mark.asyncio
async def test_request_finished_receives_the_facts_of_every_request() -> None:
    finished: list[RequestFacts] = []
    counted: list[None] = []

    class Probe:
        name = "probe"

        def __init__(self) -> None:
            self.router = APIRouter()

            @self.router.get("/items/{item_id}")
            async def item(item_id: int) -> dict[str, int]:
                await asyncio.sleep(0.02)
                return {"id": item_id}

            @self.router.post("/fail")
            async def fail() -> None:
                raise RuntimeError("escaped")

        @hookimpl
        def chassis_routers(self) -> list[APIRouter]:
            return [self.router]

        @hookimpl
        def chassis_request_finished(self, facts: RequestFacts) -> None:
            finished.append(facts)

    class Counter:
        name = "counter"

        @hookimpl
        def chassis_request_finished(self) -> None:
            counted.append(None)

    async with running(build([Probe(), Counter()])) as client:
        await client.get("/items/7", headers={"X-Correlation-ID": "c-7"})
        await client.get("/items/not-a-number")
        await client.post("/fail")
        await client.get("/nowhere")

    summary = [(f.method, f.path, f.route, f.status) for f in finished]
    assert summary == [
        ("GET", "/items/7", "/items/{item_id}", 200),
        ("GET", "/items/not-a-number", "/items/{item_id}", 422),
        ("POST", "/fail", "/fail", 500),
        ("GET", "/nowhere", UNMATCHED_ROUTE, 404),
    ]
    assert len(counted) == 4
    assert finished[0].correlation_id == "c-7"
    assert finished[0].duration is not None
    assert 0.02 <= finished[0].duration < 5
    assert all(f.duration is not None and f.duration > 0 for f in finished)
    assert isinstance(finished[2].exception, RuntimeError)
    assert finished[0].exception is None


@pytest.mark.asyncio
async def test_request_finished_facts_count_the_requests_database_work(
    chassis_database_url: str,
) -> None:
    finished: list[RequestFacts] = []

    class Queries:
        name = "queries"

        def __init__(self) -> None:
            self.router = APIRouter()

            @self.router.get("/two-queries")
            async def two_queries(session: SessionDep) -> None:
                await session.execute(text("SELECT 1"))
                await session.execute(text("SELECT pg_sleep(0.01)"))

            @self.router.get("/no-query")
            async def no_query() -> None:
                return None

        @hookimpl
        def chassis_routers(self) -> list[APIRouter]:
            return [self.router]

        @hookimpl
        def chassis_request_finished(self, facts: RequestFacts) -> None:
            finished.append(facts)

    settings = ChassisSettings.model_validate(
        {"database_url": chassis_database_url, "log_configure": False}
    )
    async with running(create_app(settings, plugins=[Queries()])) as client:
        await client.get("/two-queries")
        await client.get("/no-query")

    queried, idle = finished
    assert queried.db_queries >= 2
    assert queried.db_time >= 0.01
    assert (idle.db_queries, idle.db_time) == (0, 0.0)
