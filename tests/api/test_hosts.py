from __future__ import annotations

import pytest
from fastapi import APIRouter, FastAPI

from fastapi_chassis import hookimpl
from fastapi_chassis.api.hosts import TrustedHostMiddleware
from tests.api.conftest import AppFactory, running


class Ping:
    name = "test.ping"

    def __init__(self) -> None:
        self.router = APIRouter()

        @self.router.get("/ping")
        async def ping() -> dict[str, bool]:
            return {"pong": True}

    @hookimpl
    def chassis_routers(self, version: str) -> list[APIRouter]:
        return [self.router] if version == "1" else []


@pytest.mark.asyncio
async def test_only_trusted_hosts_are_served(make_app: AppFactory) -> None:
    app = make_app([Ping()], trusted_hosts=["api.example.com", "*.internal.example.com"])
    async with running(app) as client:
        exact = await client.get("/ping", headers={"Host": "api.example.com"})
        port = await client.get("/ping", headers={"Host": "api.example.com:8443"})
        wildcard = await client.get("/ping", headers={"Host": "orders.internal.example.com"})
        other = await client.get("/ping", headers={"Host": "evil.example.net"})
        suffix_trick = await client.get("/ping", headers={"Host": "xinternal.example.com"})
    assert [exact.status_code, port.status_code, wildcard.status_code] == [200, 200, 200]
    assert other.status_code == 400
    assert other.headers["content-type"] == "application/problem+json"
    assert suffix_trick.status_code == 400


@pytest.mark.asyncio
async def test_no_trusted_hosts_means_any_host(make_app: AppFactory) -> None:
    async with running(make_app([Ping()])) as client:
        response = await client.get("/ping", headers={"Host": "anything.test"})
    assert response.status_code == 200


@pytest.mark.parametrize("pattern", ["api.*.com", "**.example.com", "*example.com"])
def test_bad_host_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(ValueError, match="invalid host pattern"):
        TrustedHostMiddleware(FastAPI(), allowed_hosts=[pattern])


@pytest.mark.asyncio
async def test_cors_preflight_and_exposed_headers(make_app: AppFactory) -> None:
    app = make_app([Ping()], cors_origins=["https://shop.example.com"])
    async with running(app) as client:
        preflight = await client.options(
            "/ping",
            headers={
                "Origin": "https://shop.example.com",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "X-API-Version, If-Match",
            },
        )
        simple = await client.get("/ping", headers={"Origin": "https://shop.example.com"})
        foreign = await client.get("/ping", headers={"Origin": "https://evil.example.net"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://shop.example.com"
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert "x-api-version" in allowed
    assert "if-match" in allowed
    assert "x-correlation-id" in simple.headers["access-control-expose-headers"].lower()
    assert "access-control-allow-origin" not in foreign.headers


@pytest.mark.asyncio
async def test_refusals_carry_the_correlation_id_and_cors_headers(make_app: AppFactory) -> None:
    origin = "https://shop.example.com"
    app = make_app(
        [Ping()],
        trusted_hosts=["api.example.com"],
        cors_origins=[origin],
        max_request_body_bytes=10,
    )
    async with running(app) as client:
        untrusted = await client.get(
            "/ping", headers={"Host": "evil.example.net", "Origin": origin}
        )
        too_large = await client.post(
            "/ping", content=b"x" * 100, headers={"Host": "api.example.com", "Origin": origin}
        )
    assert untrusted.status_code == 400
    assert too_large.status_code == 413
    for response in (untrusted, too_large):
        # A browser can read the problem, and support can find the request.
        assert response.headers["access-control-allow-origin"] == origin
        assert response.json()["correlation_id"] == response.headers["x-correlation-id"]
