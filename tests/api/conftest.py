"""Applications built with create_app on the test database, and clients for them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI

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
