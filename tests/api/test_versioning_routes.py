from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, MutableMapping
from contextlib import asynccontextmanager
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, Request, WebSocket
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from starlette.routing import Mount

from fastapi_chassis import ChassisSettings, ConfigurationError, create_app, hookimpl
from fastapi_chassis.api import api_version, etag_for, removed_route
from fastapi_chassis.api.facts import RequestFacts, facts_for
from fastapi_chassis.api.versioning_routes import (
    VersionedRoutes,
    build_versioned_routes,
    versioned_routes,
)
from fastapi_chassis.plugins import PluginError
from tests.api.conftest import AppFactory, running

VERSIONS = ["1", "2", "3"]


def greeting_word() -> str:
    return "hello"


class ItemIn(BaseModel):
    name: str


def served(by: str, request: Request) -> dict[str, object]:
    return {"served_by": by, "version": api_version(), "method": request.method}


class CatalogPlugin:
    """Three versions of a small catalogue; each changes something.

    Version 1: items, a legacy route, /things (GET and POST), a greeting with a
    dependency, a stream. Version 2: a new /items/recent, its own GET /things,
    and /legacy withdrawn. Version 3: its own GET /items/{id} (the parameter
    renamed), and POST /things withdrawn.
    """

    name = "test.catalog"

    def __init__(self) -> None:
        self.finished: list[RequestFacts] = []
        v1 = APIRouter()

        @v1.get("/items/{item_id}")
        async def read_item_v1(item_id: str, request: Request) -> dict[str, object]:
            return {**served("1", request), "item": item_id}

        @v1.post("/items", status_code=201)
        async def create_item(item: ItemIn, request: Request) -> dict[str, object]:
            return {**served("1", request), "name": item.name}

        @v1.get("/legacy")
        async def legacy(request: Request) -> dict[str, object]:
            return served("1", request)

        @v1.api_route("/things", methods=["GET", "POST"])
        async def things_v1(request: Request) -> dict[str, object]:
            return served("1", request)

        @v1.get("/greeting")
        async def greeting(
            request: Request, word: Annotated[str, Depends(greeting_word)]
        ) -> dict[str, object]:
            return {**served("1", request), "greeting": word}

        @v1.get("/tagged")
        def tagged(version: Annotated[str | None, Depends(api_version)]) -> dict[str, object]:
            # A sync endpoint and a sync dependency: both run in the thread pool.
            return {"etag": etag_for(7), "version": version}

        @v1.get(
            "/stream",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
        )
        async def stream() -> StreamingResponse:
            async def chunks() -> AsyncIterator[bytes]:
                for index in range(3):
                    yield f"chunk-{index};".encode()

            return StreamingResponse(chunks(), media_type="text/plain")

        v2 = APIRouter()

        @v2.get("/items/recent")
        async def recent(request: Request) -> dict[str, object]:
            return served("2", request)

        @v2.get("/things")
        async def things_v2(request: Request) -> dict[str, object]:
            return served("2", request)

        v3 = APIRouter()

        @v3.get("/items/{id}")
        async def read_item_v3(id: str, request: Request) -> dict[str, object]:  # noqa: A002
            return {**served("3", request), "item": id}

        self.routers: dict[str, list[object]] = {
            "1": [v1],
            "2": [v2, removed_route("GET", "/legacy")],
            "3": [v3, removed_route("post", "/things")],
        }

    @hookimpl
    def chassis_routers(self, version: str) -> list[object]:
        return self.routers.get(version, [])

    @hookimpl
    def chassis_configure_app(self, app: FastAPI) -> None:
        @app.get("/outside")
        async def outside() -> dict[str, object]:
            return {"version": api_version()}

    @hookimpl
    def chassis_request_finished(self, facts: RequestFacts) -> None:
        self.finished.append(facts)


@pytest.fixture
def catalog() -> CatalogPlugin:
    return CatalogPlugin()


@pytest.fixture
def app(make_app: AppFactory, catalog: CatalogPlugin) -> FastAPI:
    return make_app([catalog], api_versions=VERSIONS)


def v(version: str) -> dict[str, str]:
    return {"X-API-Version": version}


async def call_asgi(
    app: FastAPI, path: str, headers: list[tuple[bytes, bytes]], *, kind: str = "http"
) -> list[dict[str, Any]]:
    """Call ``app`` as a server would, headers as raw bytes; return what it sent.

    httpx refuses some header values (CR, LF) and buffers streamed bodies; this
    does neither.
    """
    sent: list[dict[str, Any]] = []
    done = asyncio.Event()
    if kind == "http":
        incoming: list[dict[str, Any]] = [{"type": "http.request", "body": b"", "more_body": False}]
        closing: dict[str, Any] = {"type": "http.disconnect"}
    else:
        incoming = [{"type": "websocket.connect"}]
        closing = {"type": "websocket.disconnect", "code": 1000}

    async def receive() -> dict[str, Any]:
        if incoming:
            return incoming.pop(0)
        await done.wait()
        return closing

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))
        if message["type"] in {"websocket.close", "websocket.http.response.body"} or (
            message["type"] == "http.response.body" and not message.get("more_body")
        ):
            done.set()

    scope = {
        "type": kind,
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http" if kind == "http" else "ws",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
        "subprotocols": [],
    }
    await app(scope, receive, send)
    return sent


@pytest.mark.asyncio
async def test_each_version_inherits_what_it_does_not_replace(app: FastAPI) -> None:
    async with running(app) as client:
        item = {version: await client.get("/items/5", headers=v(version)) for version in VERSIONS}
        things = {version: await client.get("/things", headers=v(version)) for version in VERSIONS}
        created = await client.post("/items", json={"name": "x"}, headers=v("3"))
    assert [item[version].json()["served_by"] for version in VERSIONS] == ["1", "1", "3"]
    assert [things[version].json()["served_by"] for version in VERSIONS] == ["1", "2", "2"]
    assert created.status_code == 201
    assert created.json() == {"served_by": "1", "version": "3", "method": "POST", "name": "x"}
    for version in VERSIONS:
        assert item[version].json()["version"] == version
        assert things[version].headers["x-api-version"] == version


@pytest.mark.asyncio
async def test_a_removed_route_is_gone_from_that_version_on(app: FastAPI) -> None:
    async with running(app) as client:
        legacy = {version: await client.get("/legacy", headers=v(version)) for version in VERSIONS}
    assert legacy["1"].status_code == 200
    assert legacy["2"].status_code == 404
    assert legacy["3"].status_code == 404
    assert legacy["3"].headers["content-type"] == "application/problem+json"


@pytest.mark.asyncio
async def test_a_version_keeps_the_methods_it_did_not_replace_or_remove(app: FastAPI) -> None:
    async with running(app) as client:
        post_v2 = await client.post("/things", headers=v("2"))
        post_v3 = await client.post("/things", headers=v("3"))
        delete_v1 = await client.delete("/things", headers=v("1"))
        delete_v2 = await client.delete("/things", headers=v("2"))
    assert post_v2.status_code == 200
    assert post_v2.json()["served_by"] == "1"  # POST inherited, GET replaced
    assert post_v3.status_code == 405
    assert post_v3.headers["allow"] == "GET"
    assert post_v3.headers["content-type"] == "application/problem+json"
    assert delete_v1.status_code == 405
    assert delete_v1.headers["allow"] == "GET, POST"
    # Two routes share /things in version 2; Allow names the methods of both.
    assert delete_v2.status_code == 405
    assert delete_v2.headers["allow"] == "GET, POST"


@pytest.mark.asyncio
async def test_new_paths_are_not_hidden_by_inherited_patterns(app: FastAPI) -> None:
    async with running(app) as client:
        recent = {
            version: await client.get("/items/recent", headers=v(version)) for version in VERSIONS
        }
        other = await client.get("/items/abc", headers=v("3"))
    assert recent["1"].json() == {
        "served_by": "1",
        "version": "1",
        "method": "GET",
        "item": "recent",
    }
    assert recent["2"].json()["served_by"] == "2"
    # Version 3's /items/{id} replaced the route that came after /items/recent in
    # version 2, and took its place: /items/recent still wins.
    assert recent["3"].json()["served_by"] == "2"
    assert other.json()["served_by"] == "3"


@pytest.mark.asyncio
async def test_dependency_overrides_reach_an_inherited_route_in_every_version(
    app: FastAPI,
) -> None:
    async with running(app) as client:
        before = [await client.get("/greeting", headers=v(version)) for version in VERSIONS]
        app.dependency_overrides[greeting_word] = lambda: "overridden"
        after = [await client.get("/greeting", headers=v(version)) for version in VERSIONS]
        app.dependency_overrides.clear()
    assert [response.json()["greeting"] for response in before] == ["hello"] * 3
    assert [response.json()["greeting"] for response in after] == ["overridden"] * 3
    assert [response.json()["version"] for response in after] == VERSIONS


@pytest.mark.asyncio
async def test_the_version_reaches_facts_dependencies_and_etags(
    app: FastAPI, catalog: CatalogPlugin
) -> None:
    async with running(app) as client:
        tagged = await client.get("/tagged", headers=v("2"))
        default = await client.get("/tagged")
    assert tagged.json() == {"etag": '"7.2"', "version": "2"}
    assert default.json() == {"etag": '"7.1"', "version": "1"}
    assert [facts.api_version for facts in catalog.finished] == ["2", "1"]
    assert [facts.route for facts in catalog.finished] == ["/tagged", "/tagged"]


@pytest.mark.asyncio
async def test_route_templates_are_the_versioned_routes(
    app: FastAPI, catalog: CatalogPlugin
) -> None:
    async with running(app) as client:
        await client.get("/items/9", headers=v("3"))
        await client.post("/things", headers=v("3"))
        await client.get("/items/9", headers=v("nope"))
    assert [(facts.route, facts.status) for facts in catalog.finished] == [
        ("/items/{id}", 200),
        ("/things", 405),
        ("/items/{item_id}", 400),
    ]


@pytest.mark.asyncio
async def test_routes_outside_versioning_answer_whatever_the_header_says(app: FastAPI) -> None:
    async with running(app) as client:
        unknown = await client.get("/outside", headers=v("99"))
        known = await client.get("/outside", headers=v("2"))
        health = await client.get("/health/live", headers={b"X-API-Version": "\u00e9".encode()})
        nowhere = await client.get("/nowhere", headers=v("99"))
        versioned = await client.get("/legacy", headers=v("99"))
    assert unknown.status_code == 200
    assert unknown.json() == {"version": None}
    assert "x-api-version" not in unknown.headers
    assert unknown.headers["vary"] == "X-API-Version"
    assert known.json() == {"version": "2"}
    assert known.headers["x-api-version"] == "2"
    assert health.status_code == 200
    assert nowhere.status_code == 404
    assert versioned.status_code == 400


@pytest.mark.asyncio
async def test_streaming_responses_pass_through_untouched(app: FastAPI) -> None:
    async with app.router.lifespan_context(app):
        messages = await call_asgi(app, "/stream", [(b"x-api-version", b"2")])
    bodies = [message["body"] for message in messages if message["type"] == "http.response.body"]
    assert b"".join(bodies) == b"chunk-0;chunk-1;chunk-2;"
    assert len([body for body in bodies if body]) == 3  # not buffered into one
    start = messages[0]
    assert start["type"] == "http.response.start"
    assert (b"x-api-version", b"2") in start["headers"]


@pytest.mark.asyncio
async def test_the_tables_are_worked_out_once_and_share_unchanged_routes(app: FastAPI) -> None:
    versioned = versioned_routes(app)
    assert isinstance(versioned, VersionedRoutes)
    assert versioned.versions == ("1", "2", "3")

    def table(version: str) -> dict[tuple[str, str], object]:
        return {
            (route.path, method): route  # type: ignore[attr-defined]
            for route in versioned.routes_for(version)
            for method in route.methods  # type: ignore[attr-defined]
        }

    one, two, three = table("1"), table("2"), table("3")
    assert ("/legacy", "GET") in one
    assert ("/legacy", "GET") not in two
    assert ("/things", "POST") not in three
    assert one[("/greeting", "GET")] is two[("/greeting", "GET")] is three[("/greeting", "GET")]
    # Version 1's GET and POST /things are one path operation, served as one
    # route per method, so version 2 keeps the POST route as it was.
    assert one[("/things", "POST")] is two[("/things", "POST")]
    assert one[("/things", "GET")] is not one[("/things", "POST")]
    assert two[("/things", "POST")].methods == {"POST"}  # type: ignore[attr-defined]


@pytest.mark.asyncio
async def test_url_for_finds_routes_of_any_version(app: FastAPI) -> None:
    assert app.url_path_for("read_item_v1", item_id="3") == "/items/3"
    assert app.url_path_for("read_item_v3", id=3) == "/items/3"
    assert app.url_path_for("recent") == "/items/recent"


@pytest.mark.asyncio
async def test_a_router_contributed_to_several_versions_starts_once(make_app: AppFactory) -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(_: object) -> AsyncIterator[dict[str, object]]:
        events.append("start")
        yield {"shared": True}
        events.append("stop")

    router = APIRouter(lifespan=lifespan)

    class Plugin:
        @hookimpl
        def chassis_routers(self) -> list[object]:
            return [router]

    app = make_app([Plugin()], api_versions=["1", "2"])
    async with app.router.lifespan_context(app) as state:
        assert events == ["start"]
        assert state == {"shared": True}
    assert events == ["start", "stop"]


@pytest.mark.asyncio
async def test_versioned_websockets_follow_the_header(make_app: AppFactory) -> None:
    v1, v2 = APIRouter(), APIRouter()

    @v1.websocket("/ws")
    async def socket_v1(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(f"v1 under {facts_for(websocket.scope).api_version}")
        await websocket.close()

    @v2.websocket("/ws")
    async def socket_v2(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(f"v2 under {facts_for(websocket.scope).api_version}")
        await websocket.close()

    class Plugin:
        @hookimpl
        def chassis_routers(self, version: str) -> list[object]:
            return [v1] if version == "1" else [v2]

    app = make_app([Plugin()], api_versions=["1", "2"])
    async with app.router.lifespan_context(app):
        default = await call_asgi(app, "/ws", [], kind="websocket")
        second = await call_asgi(app, "/ws", [(b"x-api-version", b"2")], kind="websocket")
        unknown = await call_asgi(app, "/ws", [(b"x-api-version", b"9")], kind="websocket")
    assert [message.get("text") for message in default] == [None, "v1 under 1", None]
    assert [message.get("text") for message in second] == [None, "v2 under 2", None]
    assert unknown == [{"type": "websocket.close", "code": 1008}]


class _Routers:
    def __init__(self, routers: dict[str, list[object]]) -> None:
        self.routers = routers

    @hookimpl
    def chassis_routers(self, version: str) -> list[object]:
        return self.routers.get(version, [])


def _router(*paths: str, methods: tuple[str, ...] = ("GET",)) -> APIRouter:
    router = APIRouter()
    for path in paths:

        async def endpoint() -> None:
            return None

        router.add_api_route(path, endpoint, methods=list(methods), name=path)
    return router


@pytest.mark.parametrize(
    ("routers", "message"),
    [
        ({"1": [_router("/a"), _router("/a")]}, "registers GET /a twice"),
        ({"1": [_router("/a/{x}"), _router("/a/{y:int}")]}, "registers GET /a/{y:int} twice"),
        ({"1": [_router("/a")], "2": [removed_route("GET", "/b")]}, "no earlier version"),
        ({"1": [_router("/a")], "2": [removed_route("DELETE", "/a")]}, "no earlier version"),
        ({"1": [_router("/a")], "2": [_router("/a"), removed_route("GET", "/a")]}, "both"),
        ({"1": ["not a router"]}, "expected fastapi.APIRouter"),
    ],
)
def test_inconsistent_contributions_stop_create_app(
    routers: dict[str, list[object]], message: str
) -> None:
    settings = ChassisSettings(database_url=None, api_versions=["1", "2"])
    with pytest.raises(ConfigurationError, match=message):
        create_app(settings, plugins=[_Routers(routers)])


def test_mounts_belong_outside_versioning() -> None:
    router = APIRouter()
    router.routes.append(Mount("/static", app=FastAPI()))
    with pytest.raises(ConfigurationError, match="chassis_configure_app"):
        build_versioned_routes({"1": [router]}, default="1")


def test_removed_route_checks_its_arguments() -> None:
    assert removed_route("delete", "/a/{id}").key == ("/a/{}", "DELETE")
    with pytest.raises(ValueError, match="HTTP method"):
        removed_route("GE T", "/a")
    with pytest.raises(ValueError, match="start with '/'"):
        removed_route("GET", "a")


def test_a_hook_failure_names_the_plugin() -> None:
    class Broken:
        name = "test.broken"

        @hookimpl
        def chassis_routers(self, version: str) -> Iterator[object]:
            raise RuntimeError(f"no routers for {version}")

    with pytest.raises(PluginError, match=r"test\.broken.*chassis_routers"):
        create_app(ChassisSettings(database_url=None), plugins=[Broken()])


def test_router_form_limits_reach_the_rebuilt_routes() -> None:
    router = APIRouter(form_limits={"max_fields": 5, "max_files": 2})

    @router.post("/upload", form_limits={"max_files": 1})
    async def upload() -> None:
        return None

    versioned = build_versioned_routes({"1": [router]}, default="1")
    (route,) = versioned.routes_for("1")
    assert route.form_limits == {"max_fields": 5, "max_files": 1}  # type: ignore[attr-defined]


def test_versions_are_checked_even_without_the_version_plugin() -> None:
    settings = ChassisSettings(
        database_url=None, api_versions=["1", "2/3"], disabled_plugins=["chassis.versioning"]
    )
    with pytest.raises(ConfigurationError, match="must be 1 to 32"):
        create_app(settings)
