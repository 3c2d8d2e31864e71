"""MetricsMiddleware, the /metrics exposition and the chassis.metrics plugin, through real apps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import APIRouter, BackgroundTasks, FastAPI
from fastapi.responses import StreamingResponse
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, Counter
from prometheus_client.exposition import choose_encoder
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from fastapi_chassis import ChassisSettings, create_app, hookimpl
from fastapi_chassis.api import MetricsMiddleware
from fastapi_chassis.api.facts import facts_for
from fastapi_chassis.observability._request_series import (
    Layout,
    LocalSeries,
    RequestSeries,
    SharedSeries,
    _adder,
    _observer,
)
from fastapi_chassis.observability.metrics import (
    DB_DURATION_BUCKETS,
    DB_QUERY_BUCKETS,
    DURATION_BUCKETS,
    NO_API_VERSION,
    OTHER_METHOD,
    MetricsPlugin,
    metrics_endpoint,
)
from fastapi_chassis.plugins.contributions import MiddlewareOrder, MiddlewareSpec
from tests.api.conftest import running
from tests.observability.scrape import Exposition, scrape

AppMaker = Callable[..., FastAPI]


class Gate:
    """Holds a request inside its endpoint until released."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()


def demo_router(gate: Gate) -> APIRouter:
    router = APIRouter()

    @router.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @router.post("/items")
    async def create_item() -> dict[str, str]:
        return {"created": "yes"}

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    @router.get("/held")
    async def held() -> dict[str, str]:
        gate.entered.set()
        await gate.release.wait()
        return {"held": "no more"}

    @router.get("/slow")
    async def slow() -> dict[str, str]:
        await asyncio.sleep(0.06)
        return {"slow": "yes"}

    @router.get("/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for index in range(3):
                await asyncio.sleep(0.03)
                yield f"chunk-{index};".encode()

        return StreamingResponse(chunks(), media_type="text/plain")

    @router.get("/later")
    async def later(tasks: BackgroundTasks) -> dict[str, str]:
        tasks.add_task(asyncio.sleep, 0.2)
        return {"sent": "before the task ran"}

    return router


def plain_app(gate: Gate | None = None, /, **options: object) -> FastAPI:
    app = FastAPI()
    app.include_router(demo_router(gate or Gate()))
    app.add_middleware(MetricsMiddleware, **options)  # type: ignore[arg-type]
    app.add_api_route("/metrics", metrics_endpoint, include_in_schema=False)
    return app


class DemoRoutes:
    name = "test.demo"

    def __init__(self, gate: Gate) -> None:
        self.router = demo_router(gate)

    @hookimpl
    def chassis_configure_app(self, app: FastAPI) -> None:
        app.include_router(self.router)


def chassis_app(gate: Gate | None = None, /, **changes: object) -> FastAPI:
    settings = ChassisSettings.model_validate(
        {"database_url": None, "log_configure": False, **changes}
    )
    return create_app(settings, plugins=[DemoRoutes(gate or Gate())])


def client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.mark.asyncio
@pytest.mark.parametrize("make", [plain_app, chassis_app])
async def test_counts_by_method_route_and_status(make: AppMaker) -> None:
    app = make()
    async with running(app), client(app) as http:
        for item in range(3):
            assert (await http.get(f"/items/{item}")).status_code == 200
        assert (await http.get("/items/not-a-number")).status_code == 422
        assert (await http.post("/items")).status_code == 200
        assert (await http.delete("/items/1")).status_code == 405
        assert (await http.get("/boom")).status_code == 500
        assert (await http.request("BREW", "/items/1")).status_code == 405
        exposition = await scrape(http)

    assert exposition.requests() == {
        ("GET", "/items/{item_id}", "200"): 3,
        ("GET", "/items/{item_id}", "422"): 1,
        ("POST", "/items", "200"): 1,
        ("DELETE", "/items/{item_id}", "405"): 1,
        ("GET", "/boom", "500"): 1,
        (OTHER_METHOD, "/items/{item_id}", "405"): 1,
    }
    assert exposition.total("http_request_duration_seconds_count") == 8
    assert exposition.total("http_request_duration_seconds_count", route="/boom", status="500") == 1


@pytest.mark.asyncio
async def test_the_api_version_label_comes_from_the_request_facts() -> None:
    class ChooseVersion:
        """Stands in for the versioning middleware: records the version it chose."""

        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            for name, value in scope.get("headers", ()):
                if name == b"x-api-version":
                    facts_for(scope).api_version = value.decode()
            await self.app(scope, receive, send)

    class Versioning:
        name = "test.versioning"

        @hookimpl
        def chassis_middleware(self) -> list[MiddlewareSpec]:
            return [MiddlewareSpec(ChooseVersion, order=MiddlewareOrder.VERSIONING)]

    app = create_app(
        ChassisSettings(database_url=None, log_configure=False),
        plugins=[DemoRoutes(Gate()), Versioning()],
    )
    async with running(app), client(app) as http:
        await http.get("/items/1", headers={"X-API-Version": "2"})
        await http.get("/items/1", headers={"X-API-Version": "2"})
        await http.get("/items/1")
        exposition = await scrape(http)
    counted = exposition.matching("http_requests_total", route="/items/{item_id}")
    by_version = {sample.labels["api_version"]: sample.value for sample in counted}
    # Without a chosen version the label is a fixed placeholder, or the version
    # the application's own versioning layer chose for a request without a header.
    assert by_version.pop("2") == 2
    assert sum(by_version.values()) == 1
    assert set(by_version) <= {NO_API_VERSION, "1"}


@pytest.mark.asyncio
@pytest.mark.parametrize("make", [plain_app, chassis_app])
async def test_the_in_flight_gauge_counts_requests_being_handled(make: AppMaker) -> None:
    gate = Gate()
    app = make(gate)
    async with running(app), client(app) as http:
        held = asyncio.create_task(http.get("/held"))
        await asyncio.wait_for(gate.entered.wait(), 5)
        during = await scrape(http)
        gate.release.set()
        assert (await held).status_code == 200
        after = await scrape(http)

    # The scrape is not a request in flight: only the held one is.
    assert during.total("http_requests_in_progress", method="GET") == 1
    assert during.label_values("http_requests_in_progress", "method") == {"GET"}
    assert after.total("http_requests_in_progress") == 0
    assert after.requests()[("GET", "/held", "200")] == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("make", [plain_app, chassis_app])
async def test_duration_lasts_until_the_last_byte_and_streams_pass_untouched(
    make: AppMaker,
) -> None:
    app = make()
    async with running(app), client(app) as http:
        assert (await http.get("/slow")).status_code == 200
        streamed = await http.get("/stream")
        exposition = await scrape(http)
    assert streamed.text == "chunk-0;chunk-1;chunk-2;"
    assert streamed.headers["content-type"].startswith("text/plain")

    slow = {"route": "/slow", "status": "200"}
    assert exposition.total("http_request_duration_seconds_sum", **slow) >= 0.06
    assert exposition.total("http_request_duration_seconds_bucket", le="0.05", **slow) == 0
    assert exposition.total("http_request_duration_seconds_bucket", le="10.0", **slow) == 1
    # The stream's endpoint returns at once; its body takes three sleeps.
    stream = {"route": "/stream", "status": "200"}
    assert exposition.total("http_request_duration_seconds_sum", **stream) >= 0.09


@pytest.mark.asyncio
@pytest.mark.parametrize("make", [plain_app, chassis_app])
async def test_background_tasks_do_not_count_as_response_time(make: AppMaker) -> None:
    app = make()
    async with running(app), client(app) as http:
        assert (await http.get("/later")).status_code == 200
        exposition = await scrape(http)
    later = {"route": "/later", "status": "200"}
    assert exposition.total("http_request_duration_seconds_count", **later) == 1
    assert exposition.total("http_request_duration_seconds_sum", **later) < 0.2


@pytest.mark.asyncio
async def test_the_exposition_is_not_measured_and_has_prometheus_content_types() -> None:
    app = plain_app()
    async with client(app) as http:
        await http.get("/items/1")
        first = await http.get("/metrics")
        second = await http.get("/metrics")
        openmetrics = await http.get("/metrics", headers={"Accept": OPENMETRICS})

    assert first.headers["content-type"] == CONTENT_TYPE_PLAIN_0_0_4
    assert openmetrics.headers["content-type"] == choose_encoder(OPENMETRICS)[1]
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert openmetrics.text.endswith("# EOF\n")
    assert Exposition.parse(second.text).requests() == {("GET", "/items/{item_id}", "200"): 1}


@pytest.mark.asyncio
async def test_applications_in_one_process_keep_their_own_metrics() -> None:
    first, second = chassis_app(), chassis_app()
    async with running(first), running(second), client(first) as one, client(second) as two:
        await one.get("/items/1")
        await one.get("/items/2")
        await two.get("/items/3")
        assert (await scrape(one)).requests() == {("GET", "/items/{item_id}", "200"): 2}
        assert (await scrape(two)).requests() == {("GET", "/items/{item_id}", "200"): 1}


@pytest.mark.asyncio
async def test_the_exposition_adds_the_global_registry_unless_given_one() -> None:
    # The global registry holds the process metrics and the application's own.
    counter = Counter("test_exposition_orders", "Orders placed (test).")
    counter.inc(4)
    try:
        own = CollectorRegistry()
        async with client(plain_app()) as default, client(plain_app(registry=own)) as given:
            await default.get("/items/1")
            await given.get("/items/1")
            with_global = await scrape(default)
            registry_only = await scrape(given)
    finally:
        from prometheus_client import REGISTRY

        REGISTRY.unregister(counter)

    assert with_global.total("test_exposition_orders_total") == 4
    assert with_global.requests() == {("GET", "/items/{item_id}", "200"): 1}
    assert registry_only.matching("test_exposition_orders_total") == []
    assert registry_only.requests() == {("GET", "/items/{item_id}", "200"): 1}
    assert registry_only.requests() == (
        Exposition.parse(_text(own)).requests()
    )  # the given registry is the one the exposition shows


def _text(registry: CollectorRegistry) -> str:
    from prometheus_client import generate_latest

    return generate_latest(registry).decode()


@pytest.mark.asyncio
async def test_a_namespace_prefixes_every_name_and_db_metrics_can_be_left_out() -> None:
    app = plain_app(namespace="shop", db_metrics=False)
    async with client(app) as http:
        await http.get("/items/1")
        exposition = await scrape(http)
    names = {sample.name for sample in exposition.samples if sample.name.startswith("shop_")}
    assert "shop_http_requests_total" in names
    assert "shop_http_request_duration_seconds_count" in names
    assert "shop_http_requests_in_progress" in names
    assert not any("db" in name for name in names)
    assert exposition.matching("http_requests_total") == []


@pytest.mark.asyncio
async def test_without_a_metrics_path_every_path_is_measured() -> None:
    app = plain_app(metrics_path=None)
    async with client(app) as http:
        await http.get("/metrics")
        response = await http.get("/metrics")
    # The endpoint falls back to the global registry, where this app has nothing.
    assert Exposition.parse(response.text).matching("http_requests_total") == []


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "changes",
    [{"metrics_enabled": False}, {"disabled_plugins": ["chassis.metrics"]}],
    ids=["metrics_enabled", "disabled_plugins"],
)
async def test_the_plugin_can_be_turned_off(changes: dict[str, object]) -> None:
    app = chassis_app(**changes)
    async with running(app), client(app) as http:
        assert (await http.get("/items/1")).status_code == 200
        assert (await http.get("/metrics")).status_code == 404


@pytest.mark.asyncio
async def test_the_plugin_serves_metrics_outside_the_api_document() -> None:
    app = chassis_app()
    async with running(app), client(app) as http:
        schema = (await http.get("/openapi.json")).json()
        await http.get("/items/1")
        exposition = await scrape(http)
    assert "/metrics" not in schema["paths"]
    assert "/items/{item_id}" in schema["paths"]
    assert exposition.requests()[("GET", "/items/{item_id}", "200")] == 1
    assert app.state.chassis.plugins.is_registered(MetricsPlugin.name)


@pytest.mark.asyncio
async def test_websockets_pass_through_unmeasured() -> None:
    app = plain_app()

    @app.websocket("/echo")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(await websocket.receive_text())
        await websocket.close()

    # Driven the way an ASGI server drives a websocket connection.
    incoming: list[Message] = [
        {"type": "websocket.connect"},
        {"type": "websocket.receive", "text": "hello"},
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0) if incoming else {"type": "websocket.disconnect", "code": 1000}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "path": "/echo",
        "raw_path": b"/echo",
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "scheme": "ws",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 5000),
        "subprotocols": [],
    }
    await app(scope, receive, send)
    assert [message["type"] for message in sent] == [
        "websocket.accept",
        "websocket.send",
        "websocket.close",
    ]
    assert sent[1]["text"] == "hello"
    async with client(app) as http:
        assert (await scrape(http)).requests() == {}


def _recorded(series: RequestSeries) -> None:
    series.start("GET")
    series.start("POST")
    series.stop("POST")
    for key, duration, queries, db_time in [
        (("GET", "/items/{item_id}", 200, None), 0.004, 0, 0.0),
        (("GET", "/items/{item_id}", 200, None), 0.3, 3, 0.02),
        (("GET", "/items/{item_id}", 404, "2"), 12.0, 150, 3.5),
        (("POST", "/items", 201, "2"), 0.05, 1, 0.001),
    ]:
        series.record(key, duration, queries, db_time)


def test_both_ways_of_keeping_numbers_show_the_same_exposition() -> None:
    # One process keeps plain numbers; multiprocess mode writes through
    # prometheus-client's objects. Scrapers must not tell them apart.
    layout = Layout.build(
        namespace="",
        duration_buckets=DURATION_BUCKETS,
        db_query_buckets=DB_QUERY_BUCKETS,
        db_duration_buckets=DB_DURATION_BUCKETS,
        db=True,
        no_version=NO_API_VERSION,
    )
    local_registry, shared_registry = CollectorRegistry(), CollectorRegistry()
    _recorded(LocalSeries(layout, local_registry))
    _recorded(SharedSeries(layout, shared_registry))

    def samples(registry: CollectorRegistry) -> set[tuple[str, tuple[tuple[str, str], ...], float]]:
        return {
            (sample.name, tuple(sorted(sample.labels.items())), sample.value)
            for sample in Exposition.parse(_text(registry)).samples
            if not sample.name.endswith("_created")
        }

    local = samples(local_registry)
    assert local == samples(shared_registry)
    assert ("http_requests_in_progress", (("method", "GET"),), 1.0) in local
    assert (
        "http_request_db_queries_bucket",
        (("le", "+Inf"), ("method", "GET"), ("route", "/items/{item_id}")),
        3.0,
    ) in local


def test_unfamiliar_prometheus_client_internals_fall_back_to_the_public_api() -> None:
    calls: list[tuple[str, float]] = []

    class Child:
        def inc(self, amount: float = 1) -> None:
            calls.append(("inc", amount))

        def observe(self, amount: float) -> None:
            calls.append(("observe", amount))

    _adder(Child())(1)  # type: ignore[arg-type]
    _observer(Child())(0.5)  # type: ignore[arg-type]
    assert calls == [("inc", 1), ("observe", 0.5)]
