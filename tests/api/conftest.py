"""Applications built with create_app on the test database, and clients for them."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Scope

import tests.db.models  # noqa: F401 - the shared tables must exist in the test database
from fastapi_chassis import ChassisSettings, create_app

AppFactory = Callable[..., FastAPI]


@pytest.fixture
def settings(chassis_database_url: str) -> ChassisSettings:
    return ChassisSettings(database_url=chassis_database_url, service_name="test-service")


@pytest.fixture
def make_app(settings: ChassisSettings) -> AppFactory:
    """Build an app on the test database; keyword arguments override settings."""

    def make(plugins: Iterable[object] = (), **changes: object) -> FastAPI:
        adjusted = ChassisSettings.model_validate({**settings.model_dump(), **changes})
        return create_app(adjusted, plugins=plugins)

    return make


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan and yield an HTTP client talking to it in process."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


def http_scope(path: str = "/") -> Scope:
    """A fresh scope for one GET request, as a server makes one per request."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }


async def garbage_left_by_requests(
    app: ASGIApp, *, path: str = "/", requests: int = 10
) -> tuple[int, list[int]]:
    """Serve ``requests`` GETs with the cyclic collector off, after one to warm up.

    Returns the number of unreachable objects the requests left (which only the
    cyclic collector frees) and the status of every response, the warm-up's first.
    """
    received: Message = {"type": "http.request", "body": b"", "more_body": False}
    statuses: list[int] = []

    async def receive() -> Message:
        return received

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await app(http_scope(path), receive, send)
    gc.collect()
    gc.disable()
    try:
        for _ in range(requests):
            await app(http_scope(path), receive, send)
        unreachable = gc.collect()
    finally:
        gc.enable()
    return unreachable, statuses
