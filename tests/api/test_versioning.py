from __future__ import annotations

import json
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request

from fastapi_chassis import ChassisSettings, create_app, hookimpl
from fastapi_chassis.api import APIVersionMiddleware, api_version
from fastapi_chassis.plugins import PluginError
from fastapi_chassis.settings import APIDeprecation
from tests.api.conftest import AppFactory, running
from tests.api.test_versioning_routes import call_asgi

DEPRECATED_AT = 1738281600  # 2025-01-31T00:00:00Z


class EchoPlugin:
    """One route per version that reports which version served it."""

    name = "test.echo"

    def __init__(self) -> None:
        self.router = APIRouter()

        @self.router.get("/echo")
        async def echo(request: Request) -> dict[str, object]:
            return {"version": api_version()}

        @self.router.get("/broken")
        async def broken() -> None:
            raise RuntimeError("a bug")

    @hookimpl
    def chassis_routers(self) -> list[object]:
        return [self.router]


@pytest.fixture
def app(make_app: AppFactory) -> FastAPI:
    return make_app(
        [EchoPlugin()],
        api_versions=["1", "2", "3"],
        default_api_version="2",
        deprecated_api_versions={
            "1": {"deprecated": "2025-01-31", "sunset": "2099-06-30"},
        },
        api_deprecation_link="https://docs.example.com/migrate/{version}",
    )


def v(version: str) -> dict[str, str]:
    return {"X-API-Version": version}


def raw(value: bytes) -> dict[bytes, bytes]:
    return {b"X-API-Version": value}


@pytest.mark.asyncio
async def test_the_header_selects_the_version_and_is_echoed(app: FastAPI) -> None:
    async with running(app) as client:
        responses = {version: await client.get("/echo", headers=v(version)) for version in "123"}
        default = await client.get("/echo")
    for version, response in responses.items():
        assert response.json() == {"version": version}
        assert response.headers["x-api-version"] == version
        assert response.headers["vary"] == "X-API-Version"
    assert default.json() == {"version": "2"}
    assert default.headers["x-api-version"] == "2"
    assert default.headers["vary"] == "X-API-Version"


@pytest.mark.asyncio
async def test_a_deprecated_version_announces_its_deprecation_sunset_and_notes(
    app: FastAPI,
) -> None:
    async with running(app) as client:
        old = await client.get("/echo", headers=v("1"))
        current = await client.get("/echo", headers=v("3"))
    assert old.status_code == 200
    assert old.headers["deprecation"] == f"@{DEPRECATED_AT}"
    assert old.headers["sunset"] == "Tue, 30 Jun 2099 00:00:00 GMT"
    assert old.headers["link"] == '<https://docs.example.com/migrate/1>; rel="deprecation"'
    for name in ("deprecation", "sunset", "link"):
        assert name not in current.headers


@pytest.mark.asyncio
async def test_an_unknown_version_is_a_400_problem_listing_the_supported_ones(
    app: FastAPI,
) -> None:
    async with running(app) as client:
        response = await client.get("/echo", headers={**v("7"), "X-Correlation-ID": "c-1"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["vary"] == "X-API-Version"
    assert "x-api-version" not in response.headers
    problem = response.json()
    assert problem["type"].endswith("/unknown-api-version")
    assert problem["supported_versions"] == ["1", "2", "3"]
    assert problem["instance"] == "/echo"
    assert problem["correlation_id"] == "c-1"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "value",
    [
        b"1" * 100_000,
        "2\u00e9".encode(),
        b"\xff\xfe",
        b"2 ",
        b" ",
        b"",
        b"2,3",
        b"<script>alert(1)</script>",
    ],
    ids=[
        "very-long",
        "non-ascii",
        "invalid-utf8",
        "trailing-space",
        "blank",
        "empty",
        "list",
        "html",
    ],
)
async def test_hostile_header_values_get_a_clean_400(app: FastAPI, value: bytes) -> None:
    async with running(app) as client:
        response = await client.get("/echo", headers=raw(value))
    assert response.status_code == 400
    assert response.json()["supported_versions"] == ["1", "2", "3"]
    # Nothing of the value comes back.
    assert len(response.content) < 1000
    assert "script" not in response.text
    assert "x-api-version" not in response.headers


@pytest.mark.asyncio
async def test_a_repeated_header_is_refused(app: FastAPI) -> None:
    async with running(app) as client:
        response = await client.get(
            "/echo", headers=[("X-API-Version", "2"), ("X-API-Version", "3")]
        )
    assert response.status_code == 400


@pytest.mark.asyncio
async def test_crlf_in_the_header_is_refused_and_never_reflected(app: FastAPI) -> None:
    async with app.router.lifespan_context(app):
        messages = await call_asgi(app, "/echo", [(b"x-api-version", b"2\r\nSet-Cookie: x=1")])
    body = b"".join(m["body"] for m in messages if m["type"] == "http.response.body")
    assert messages[0]["status"] == 400
    assert b"Set-Cookie" not in body
    assert json.loads(body)["supported_versions"] == ["1", "2", "3"]


@pytest.mark.asyncio
async def test_a_version_past_its_sunset_answers_410(make_app: AppFactory) -> None:
    app = make_app(
        [EchoPlugin()],
        api_versions=["1", "2"],
        default_api_version="2",
        deprecated_api_versions={"1": {"deprecated": "2019-01-01", "sunset": "2020-01-01"}},
    )
    async with running(app) as client:
        retired = await client.get("/echo", headers=v("1"))
        current = await client.get("/echo", headers=v("2"))
        unknown = await client.get("/echo", headers=v("0"))
        health = await client.get("/health/live", headers=v("1"))
    assert retired.status_code == 410
    assert retired.headers["content-type"] == "application/problem+json"
    assert retired.headers["sunset"] == "Wed, 01 Jan 2020 00:00:00 GMT"
    assert retired.headers["x-api-version"] == "1"
    problem = retired.json()
    assert problem["type"].endswith("/api-version-retired")
    assert problem["supported_versions"] == ["2"]
    assert "link" not in retired.headers  # no migration notes configured
    assert current.status_code == 200
    assert unknown.json()["supported_versions"] == ["2"]
    assert health.status_code == 200


@pytest.mark.asyncio
async def test_without_the_plugin_every_request_gets_the_default_version(
    make_app: AppFactory,
) -> None:
    app = make_app(
        [EchoPlugin()],
        api_versions=["1", "2"],
        default_api_version="2",
        disabled_plugins=["chassis.versioning"],
    )
    async with running(app) as client:
        response = await client.get("/echo", headers=v("1"))
    assert response.json() == {"version": "2"}
    assert "x-api-version" not in response.headers


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"api_versions": ["1", "two words"]}, "must be 1 to 32"),
        ({"api_versions": ["1", "x" * 33]}, "must be 1 to 32"),
        (
            {
                "deprecated_api_versions": {"1": "2025-01-01"},
                "api_deprecation_link": "https://example.com/a b",
            },
            "not a valid URL",
        ),
        (
            {
                "deprecated_api_versions": {
                    "1": {"deprecated": "2025-01-01", "link": "https://x/\r\nSet-Cookie:a"}
                }
            },
            "not a valid URL",
        ),
    ],
)
def test_a_bad_configuration_stops_create_app(changes: dict[str, object], message: str) -> None:
    settings = ChassisSettings.model_validate({"database_url": None, **changes})
    with pytest.raises(PluginError, match=rf"chassis\.versioning.*{message}"):
        create_app(settings)


# --- On a plain FastAPI application -------------------------------------------


def plain_app(**options: object) -> FastAPI:
    app = FastAPI()

    @app.get("/echo")
    async def echo(version: Annotated[str | None, Depends(api_version)]) -> dict[str, object]:
        return {"version": version}

    @app.get("/health")
    async def health() -> dict[str, object]:
        return {"version": api_version()}

    app.add_middleware(APIVersionMiddleware, **options)  # type: ignore[arg-type]
    return app


async def plain_get(app: FastAPI, path: str, **headers: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.get(path, headers=headers)


@pytest.mark.asyncio
async def test_the_middleware_works_on_a_plain_fastapi_app() -> None:
    app = plain_app(
        versions=["2024-01-01", "2025-06-01"],
        deprecations={"2024-01-01": APIDeprecation(deprecated="2025-06-01")},
        deprecation_link="https://example.com/changes#{version}",
        exempt_paths=["/health"],
    )
    default = await plain_get(app, "/echo")
    newer = await plain_get(app, "/echo", **{"X-API-Version": "2025-06-01"})
    unknown = await plain_get(app, "/echo", **{"X-API-Version": "2026-01-01"})
    exempt = await plain_get(app, "/health", **{"X-API-Version": "2026-01-01"})
    assert default.json() == {"version": "2024-01-01"}
    assert default.headers["deprecation"] == "@1748736000"
    assert default.headers["link"] == (
        '<https://example.com/changes#2024-01-01>; rel="deprecation"'
    )
    assert "sunset" not in default.headers
    assert newer.json() == {"version": "2025-06-01"}
    assert newer.headers["vary"] == "X-API-Version"
    assert unknown.status_code == 400
    assert unknown.json()["supported_versions"] == ["2024-01-01", "2025-06-01"]
    assert exempt.status_code == 200
    assert exempt.json() == {"version": None}


@pytest.mark.asyncio
async def test_a_custom_header_name() -> None:
    app = plain_app(versions=["1", "2"], header_name="Accept-Version")
    response = await plain_get(app, "/echo", **{"Accept-Version": "2"})
    assert response.json() == {"version": "2"}
    assert response.headers["accept-version"] == "2"
    assert response.headers["vary"] == "Accept-Version"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"versions": []}, "at least one"),
        ({"versions": ["1"], "default": "2"}, "not one of"),
        ({"versions": ["1"], "header_name": "X API"}, "not a valid header name"),
        (
            {"versions": ["1"], "deprecations": {"2": APIDeprecation(deprecated="2025-01-01")}},
            "not served",
        ),
        ({"versions": ["1"], "deprecations": {"1": APIDeprecation()}}, "deprecation date"),
    ],
)
def test_the_middleware_checks_its_configuration(options: dict[str, object], message: str) -> None:
    async def app(scope: object, receive: object, send: object) -> None:
        raise AssertionError

    with pytest.raises(ValueError, match=message):
        APIVersionMiddleware(app, **options)  # type: ignore[arg-type]


def test_deprecations_read_iso_and_http_dates() -> None:
    settings = ChassisSettings(
        database_url=None,
        api_versions=["1", "2", "3"],
        deprecated_api_versions={
            "1": {"deprecated": "Fri, 31 Jan 2025 00:00:00 GMT", "sunset": "2026-01-31T12:00:00"},
            "2": "2025-06-01T00:00:00+02:00",
        },
    )
    first, second = settings.deprecated_api_versions["1"], settings.deprecated_api_versions["2"]
    assert first.deprecated is not None
    assert int(first.deprecated.timestamp()) == DEPRECATED_AT
    assert first.sunset is not None
    assert first.sunset.isoformat() == "2026-01-31T12:00:00+00:00"  # no zone means UTC
    assert second.sunset is None
    assert second.deprecated is not None
    assert second.deprecated.isoformat() == "2025-06-01T00:00:00+02:00"
    # What create_app and plugins do with settings: dump and validate again.
    assert ChassisSettings.model_validate(settings.model_dump()) == settings


@pytest.mark.parametrize(
    ("deprecations", "message"),
    [
        ({"1": ""}, "needs the date"),
        ({"1": "soon"}, "neither an ISO 8601 date nor an HTTP date"),
        ({"1": {"deprecated": "2025-01-01", "sunset": "2024-01-01"}}, "sunset comes before"),
        ({"1": {"deprecated": "2025-01-01", "retired": "2026-01-01"}}, "retired"),
    ],
)
def test_deprecation_settings_are_checked(deprecations: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ChassisSettings(database_url=None, api_versions=["1"], deprecated_api_versions=deprecations)


@pytest.mark.asyncio
async def test_a_500_still_names_the_version_and_its_deprecation(app: FastAPI) -> None:
    async with running(app) as client:
        response = await client.get("/broken", headers=v("1"))
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-api-version"] == "1"
    assert response.headers["vary"] == "X-API-Version"
    assert response.headers["deprecation"] == f"@{DEPRECATED_AT}"
    assert response.headers["x-correlation-id"] == response.json()["correlation_id"]
