from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import APIRouter, FastAPI
from hypothesis import HealthCheck, assume, given, settings
from openapi_spec_validator import validate
from schemathesis import GenerationMode
from schemathesis.core.result import Ok

from fastapi_chassis import ChassisSettings, ConfigurationError, create_app
from fastapi_chassis.api.versioning_openapi import openapi_for, openapi_url_for
from fastapi_chassis.api.versioning_routes import install_versioned_routes
from tests.api.conftest import AppFactory, running
from tests.api.test_versioning_routes import VERSIONS, CatalogPlugin

COMMON = {
    ("/items", "post"),
    ("/greeting", "get"),
    ("/tagged", "get"),
    ("/stream", "get"),
    ("/outside", "get"),  # outside versioning: in every document
}
EXPECTED = {
    "1": COMMON
    | {("/items/{item_id}", "get"), ("/legacy", "get"), ("/things", "get"), ("/things", "post")},
    "2": COMMON
    | {
        ("/items/recent", "get"),
        ("/items/{item_id}", "get"),
        ("/things", "get"),
        ("/things", "post"),
    },
    "3": COMMON | {("/items/recent", "get"), ("/items/{id}", "get"), ("/things", "get")},
}
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def operations(document: dict[str, object]) -> dict[tuple[str, str], dict[str, object]]:
    paths: dict[str, dict[str, dict[str, object]]] = document["paths"]  # type: ignore[assignment]
    return {
        (path, method): operation
        for path, item in paths.items()
        for method, operation in item.items()
        if method in METHODS
    }


@pytest.fixture
def app(make_app: AppFactory) -> FastAPI:
    return make_app(
        [CatalogPlugin()],
        api_versions=VERSIONS,
        deprecated_api_versions={"1": "2025-01-31"},
    )


@pytest.mark.asyncio
async def test_each_version_documents_exactly_what_it_serves(app: FastAPI) -> None:
    async with running(app) as client:
        documents = {
            version: (await client.get(f"/openapi/v{version}.json")).json() for version in VERSIONS
        }
    for version, document in documents.items():
        assert set(operations(document)) == EXPECTED[version], version
        assert document["info"]["version"] == version
    # The operation is the one the version serves.
    assert operations(documents["2"])[("/things", "get")]["operationId"] == "things_v2_things_get"
    assert operations(documents["2"])[("/things", "post")]["operationId"] == (
        "things_v1_things_post"
    )


@pytest.mark.asyncio
async def test_every_operation_declares_the_version_header(app: FastAPI) -> None:
    for version in VERSIONS:
        for key, operation in operations(openapi_for(app, version)).items():
            headers = [
                parameter
                for parameter in operation["parameters"]  # type: ignore[attr-defined]
                if parameter["in"] == "header" and parameter["name"] == "X-API-Version"
            ]
            assert len(headers) == 1, (version, key)
            assert headers[0]["schema"]["enum"] == [version]
            # Only the default version may be reached without the header.
            assert headers[0]["required"] is (version != "1")


@pytest.mark.asyncio
async def test_a_deprecated_version_marks_its_operations(app: FastAPI) -> None:
    old = operations(openapi_for(app, "1"))
    new = operations(openapi_for(app, "2"))
    assert old[("/items/{item_id}", "get")]["deprecated"] is True
    assert "deprecated" not in old[("/outside", "get")]  # not part of any version
    assert not any("deprecated" in operation for operation in new.values())
    assert "API version 1 is deprecated" in openapi_for(app, "1")["info"]["description"]  # type: ignore[index]


@pytest.mark.parametrize("version", VERSIONS)
def test_the_documents_are_valid_openapi(app: FastAPI, version: str) -> None:
    validate(openapi_for(app, version))


@pytest.mark.asyncio
async def test_openapi_json_and_redoc_show_the_default_version(app: FastAPI) -> None:
    async with running(app) as client:
        document = (await client.get("/openapi.json")).json()
        second = (await client.get("/openapi/v2.json")).json()
        missing = await client.get("/openapi/v4.json")
    assert document == openapi_for(app, "1")
    assert app.openapi() == document
    assert second == openapi_for(app, "2")
    assert missing.status_code == 404


@pytest.mark.asyncio
async def test_swagger_ui_offers_every_version(app: FastAPI) -> None:
    async with running(app) as client:
        page = await client.get("/docs", headers={"X-API-Version": "99"})
        proxied = await client.get("/docs", headers={"X-Forwarded-Prefix": "/shop"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    urls = re.findall(r'"url": "([^"]+)", "name": "([^"]+)"', page.text)
    assert urls == [
        ("/openapi/v3.json", "API version 3"),
        ("/openapi/v2.json", "API version 2"),
        ("/openapi/v1.json", "API version 1 (deprecated)"),
    ]
    assert '"urls.primaryName": "API version 1 (deprecated)"' in page.text
    assert '"layout": "StandaloneLayout"' in page.text
    assert "swagger-ui-standalone-preset.js" in page.text
    assert proxied.status_code == 200


@pytest.mark.asyncio
async def test_documents_follow_the_root_path(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app, root_path="/shop")
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        document = (await client.get("/shop/openapi/v2.json")).json()
        page = await client.get("/shop/docs")
    assert document["servers"] == [{"url": "/shop"}]
    assert '"url": "/shop/openapi/v2.json"' in page.text


@pytest.mark.asyncio
async def test_routes_added_after_create_app_are_documented(app: FastAPI) -> None:
    assert ("/late", "get") not in operations(openapi_for(app, "2"))

    @app.get("/late")
    async def late() -> dict[str, str]:
        return {}

    assert ("/late", "get") in operations(openapi_for(app, "2"))


def test_without_an_openapi_url_no_document_is_served() -> None:
    app = FastAPI(openapi_url=None)
    router = APIRouter()

    @router.get("/a")
    async def a() -> None:
        return None

    install_versioned_routes(app, {"1": [router]}, ChassisSettings(database_url=None))
    paths = {getattr(route, "path", None) for route in app.router.routes}
    assert not any(str(path).startswith("/openapi") for path in paths)
    assert set(operations(openapi_for(app, "1"))) == {("/a", "get")}


def test_openapi_for_needs_versioned_routes() -> None:
    with pytest.raises(ConfigurationError, match="create_app"):
        openapi_for(FastAPI(), "1")


def test_document_urls() -> None:
    assert openapi_url_for("/openapi.json", "2") == "/openapi/v2.json"
    assert openapi_url_for("/api/schema.json", "2024-06-01") == "/api/schema/v2024-06-01.json"


# schemathesis generates requests from version 2's document alone and sends them
# to the application in process: every request reaches version 2 (the header is
# declared with that single value) and every response must match the document.
schemathesis_app = create_app(
    ChassisSettings(database_url=None, api_versions=VERSIONS, log_configure=False),
    plugins=[CatalogPlugin()],
)
schema = schemathesis.openapi.from_asgi("/openapi/v2.json", schemathesis_app)


OTHER_VERSIONS = frozenset(VERSIONS) - {"2"}


def _version_header(case: Any) -> str | None:
    for name, value in (case.headers or {}).items():
        if name.lower() == "x-api-version":
            return str(value).strip()
    return None


NEGATIVE_EXCLUDED = [
    # A request without the header is not a broken request for version 2 but a
    # request for the default version, which the server rightly accepts.
    schemathesis.checks.negative_data_rejection,
    # Validation errors are answered as application/problem+json, while FastAPI
    # documents its 422 as application/json with its own body schema.
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_schemathesis_finds_nothing_wrong_with_version_2(mode: GenerationMode) -> None:
    excluded = NEGATIVE_EXCLUDED if mode is GenerationMode.NEGATIVE else []
    operations_seen = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok)
        operation = result.ok()
        operations_seen.append((operation.path, operation.method))

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=15,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            if mode is GenerationMode.NEGATIVE:
                # A header naming another supported version is not a broken request
                # for version 2 but a request for that version, which may lack the
                # operation (405) or answer it otherwise: version 2's document
                # cannot describe that.
                assume(_version_header(case) not in OTHER_VERSIONS)
            case.call_and_validate(excluded_checks=excluded)

        check()
    assert len(operations_seen) == len(EXPECTED["2"])
