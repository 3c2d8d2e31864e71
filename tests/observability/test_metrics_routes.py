"""The route label is the template routing matched: included routers, mounts, root_path.

Each case runs twice: on an application made by create_app (the chassis.metrics
plugin) and on a plain FastAPI application with MetricsMiddleware added by hand.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import APIRouter, FastAPI, HTTPException, Request
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from fastapi_chassis import ChassisSettings, create_app, hookimpl
from fastapi_chassis.api import MetricsMiddleware
from fastapi_chassis.api.facts import UNMATCHED_ROUTE, RequestFacts
from fastapi_chassis.observability.metrics import metrics_endpoint
from tests.api.conftest import running
from tests.observability.scrape import Exposition, scrape


async def _plain(request: Request) -> PlainTextResponse:
    return PlainTextResponse(request.url.path)


def _shop() -> FastAPI:
    shop = FastAPI()

    @shop.get("/products/{product_id}")
    async def product(product_id: str) -> dict[str, str]:
        if product_id == "missing":
            raise HTTPException(404)
        return {"id": product_id}

    return shop


def add_routes(app: FastAPI) -> None:
    """Every shape of routing that route re-matching gets wrong."""
    reviews = APIRouter(prefix="/reviews")

    @reviews.get("/{review_id}")
    async def review(review_id: int) -> dict[str, int]:
        return {"id": review_id}

    catalog = APIRouter(prefix="/catalog")

    @catalog.get("/products/{product_id}")
    async def product(product_id: int) -> dict[str, int]:
        return {"id": product_id}

    catalog.include_router(reviews)
    catalog.add_route("/feed/{name}", _plain)
    app.include_router(catalog, prefix="/v1")
    app.include_router(catalog, prefix="/v2")  # the same router, twice

    assets = APIRouter()
    assets.mount("/files", _shop())
    app.include_router(assets, prefix="/assets")

    shop = _shop()
    app.mount("/shop", shop)
    app.mount("/tenants/{tenant}", shop)
    legacy = Starlette(
        routes=[
            Route("/orders/{order_id:int}", _plain),
            Mount("/regions/{region}", app=_shop()),
        ]
    )
    app.mount("/legacy", legacy)
    app.add_route("/plain/{name}", _plain)


EXPECTED = {
    "/v1/catalog/products/7": "/v1/catalog/products/{product_id}",
    "/v2/catalog/products/7": "/v2/catalog/products/{product_id}",
    "/v1/catalog/reviews/3": "/v1/catalog/reviews/{review_id}",
    "/v2/catalog/reviews/3": "/v2/catalog/reviews/{review_id}",
    "/v1/feed/news": "/v1/feed/{name}",
    "/assets/files/products/9": "/assets/files/products/{product_id}",
    "/shop/products/1": "/shop/products/{product_id}",
    "/tenants/acme/products/1": "/tenants/{tenant}/products/{product_id}",
    "/tenants/globex/products/2": "/tenants/{tenant}/products/{product_id}",
    "/legacy/orders/5": "/legacy/orders/{order_id}",
    "/legacy/regions/eu/products/4": "/legacy/regions/{region}/products/{product_id}",
    "/plain/x": "/plain/{name}",
}

UNMATCHED = ["/nope", "/shop/nope", "/tenants/acme/nothing", "/v1/catalog/products", "/legacy/x"]


def chassis_app() -> FastAPI:
    return create_app(ChassisSettings(database_url=None, log_configure=False))


def plain_app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(MetricsMiddleware)
    app.add_api_route("/metrics", metrics_endpoint, include_in_schema=False)
    return app


KINDS: dict[str, Callable[[], FastAPI]] = {"create_app": chassis_app, "FastAPI": plain_app}


@asynccontextmanager
async def client_for(app: FastAPI, root_path: str = "") -> AsyncIterator[httpx.AsyncClient]:
    async with running(app):
        transport = httpx.ASGITransport(app=app, root_path=root_path, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def _routes_of(app: FastAPI, root_path: str) -> Exposition:
    async with client_for(app, root_path) as client:
        for path in EXPECTED:
            response = await client.get(root_path + path)
            assert response.status_code == 200, path
        for path in UNMATCHED:
            assert (await client.get(root_path + path)).status_code == 404, path
        return await scrape(client, root_path + "/metrics")


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("root_path", ["", "/api"])
async def test_every_request_is_labelled_with_its_template(kind: str, root_path: str) -> None:
    app = KINDS[kind]()
    add_routes(app)

    exposition = await _routes_of(app, root_path)

    expected: dict[tuple[str, str, str], float] = {}
    for template in EXPECTED.values():
        key = ("GET", template, "200")
        expected[key] = expected.get(key, 0) + 1
    expected["GET", UNMATCHED_ROUTE, "404"] = len(UNMATCHED)
    assert exposition.requests() == expected
    # Never the raw path, never the root path, never the exposition itself.
    routes = exposition.label_values("http_requests_total", "route")
    assert not any(route.startswith("/api") or route == "/metrics" for route in routes)


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", KINDS)
async def test_a_not_found_answered_by_a_route_keeps_the_route(kind: str) -> None:
    app = KINDS[kind]()
    add_routes(app)
    async with client_for(app) as client:
        assert (await client.get("/tenants/acme/products/missing")).status_code == 404
        assert (await client.get("/tenants/acme/missing/thing")).status_code == 404
        exposition = await scrape(client)
    assert exposition.requests() == {
        ("GET", "/tenants/{tenant}/products/{product_id}", "404"): 1,
        ("GET", UNMATCHED_ROUTE, "404"): 1,
    }


@pytest.mark.asyncio
async def test_mounts_of_included_routers_built_before_the_first_request() -> None:
    # Generating the OpenAPI document makes FastAPI build its copies of included
    # routes and mounts before the middleware stack exists.
    app = plain_app()
    add_routes(app)
    app.openapi()
    async with client_for(app) as client:
        assert (await client.get("/assets/files/products/9")).status_code == 200
        exposition = await scrape(client)
    assert exposition.requests() == {("GET", "/assets/files/products/{product_id}", "200"): 1}


class FactsRecorder:
    name = "test.facts"

    def __init__(self) -> None:
        self.facts: list[RequestFacts] = []

    @hookimpl
    def chassis_request_finished(self, facts: RequestFacts) -> None:
        self.facts.append(facts)


@pytest.mark.asyncio
async def test_the_template_reaches_the_request_facts_without_the_metrics_plugin() -> None:
    recorder = FactsRecorder()
    app = create_app(
        ChassisSettings(database_url=None, log_configure=False, metrics_enabled=False),
        plugins=[recorder],
    )
    add_routes(app)
    async with client_for(app, "/api") as client:
        for path in ["/tenants/acme/products/1", "/v2/catalog/reviews/3", "/nowhere"]:
            await client.get("/api" + path)
        assert (await client.get("/api/metrics")).status_code == 404
    assert [facts.route for facts in recorder.facts] == [
        "/tenants/{tenant}/products/{product_id}",
        "/v2/catalog/reviews/{review_id}",
        UNMATCHED_ROUTE,
        UNMATCHED_ROUTE,
    ]


class VersionedCatalog:
    """Version 1 serves a nested, prefixed catalog; version 2 replaces one route."""

    name = "test.versioned"

    @hookimpl
    def chassis_routers(self, version: str) -> list[APIRouter]:
        reviews = APIRouter(prefix="/reviews")
        catalog = APIRouter(prefix="/catalog")
        if version == "1":

            @reviews.get("/{review_id}")
            async def review(review_id: int) -> dict[str, int]:
                return {"id": review_id}

            @catalog.get("/products/{product_id}")
            async def product(product_id: int) -> dict[str, int]:
                return {"id": product_id}

            catalog.include_router(reviews)
        else:

            @catalog.get("/products/{sku}")
            async def product_by_sku(sku: str) -> dict[str, str]:
                return {"sku": sku}

        return [catalog]


@pytest.mark.asyncio
async def test_versioned_routes_are_labelled_with_template_and_version() -> None:
    app = create_app(
        ChassisSettings(database_url=None, log_configure=False, api_versions=["1", "2"]),
        plugins=[VersionedCatalog()],
    )
    async with client_for(app) as client:
        for version in ("1", "2"):
            for path in ("/catalog/products/7", "/catalog/reviews/3"):
                response = await client.get(path, headers={"X-API-Version": version})
                assert response.status_code == 200, (version, path)
        exposition = await scrape(client)

    counted = {
        (sample.labels["route"], sample.labels["api_version"]): sample.value
        for sample in exposition.matching("http_requests_total")
    }
    assert counted == {
        ("/catalog/products/{product_id}", "1"): 1,
        ("/catalog/reviews/{review_id}", "1"): 1,
        ("/catalog/products/{sku}", "2"): 1,
        ("/catalog/reviews/{review_id}", "2"): 1,
    }
