"""Per-request statement counts and database time, on a real PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, Request
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from fastapi_chassis import hookimpl
from fastapi_chassis.api import SessionDep, get_session
from fastapi_chassis.api.facts import RequestFacts
from fastapi_chassis.observability.query_timing import (
    install_query_timing,
    query_timing_installed,
    remove_query_timing,
)
from tests.api import conftest as api_fixtures
from tests.api.conftest import AppFactory, running
from tests.observability.scrape import scrape

pytestmark = pytest.mark.db

# The applications on the test database that tests/api builds.
settings = api_fixtures.settings
make_app = api_fixtures.make_app


@pytest.fixture(autouse=True)
def _no_audit_context_statement(monkeypatch: pytest.MonkeyPatch) -> None:
    # Once any test has audited a table, every later session transaction starts
    # with one set_config() statement for the audit triggers; the exact counts
    # below are about the application's own statements.
    from fastapi_chassis.db.audit import propagation

    monkeypatch.setattr(propagation._Switch, "on", False)


class DatabaseRoutes:
    """Endpoints that run a known number of statements, and a record of each request's facts."""

    name = "test.database"

    def __init__(self) -> None:
        self.finished: dict[str, RequestFacts] = {}
        router = self.router = APIRouter()

        @router.get("/session/{count}")
        async def with_session(count: int, session: SessionDep) -> dict[str, int]:
            for _ in range(count):
                await session.execute(select(1))
            return {"ran": count}

        @router.get("/request-scoped/{count}")
        async def with_request_scoped_session(
            count: int, session: Annotated[AsyncSession, Depends(get_session)]
        ) -> dict[str, int]:
            for _ in range(count):
                await session.execute(select(1))
            return {"ran": count}

        @router.get("/connection/{count}")
        async def with_connection(count: int, request: Request) -> dict[str, int]:
            async with request.app.state.chassis.engine.connect() as connection:
                for _ in range(count):
                    await connection.execute(select(1))
            return {"ran": count}

        @router.get("/sleep/{count}")
        async def sleeping(count: int, session: SessionDep) -> dict[str, int]:
            for _ in range(count):
                await session.execute(text("SELECT pg_sleep(0.02)"))
            return {"ran": count}

        @router.get("/failing")
        async def failing(session: SessionDep) -> dict[str, str]:
            try:
                await session.execute(text("SELECT * FROM no_such_table"))
            except DBAPIError:
                await session.rollback()
            await session.execute(select(1))
            return {"recovered": "yes"}

        @router.get("/none")
        async def nothing() -> dict[str, str]:
            return {"ran": "nothing"}

    @hookimpl
    def chassis_configure_app(self, app: object) -> None:
        app.include_router(self.router)  # type: ignore[attr-defined]

    @hookimpl
    def chassis_request_finished(self, facts: RequestFacts) -> None:
        self.finished[facts.path] = facts


def client(app: object) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.mark.asyncio
@pytest.mark.parametrize("route", ["session", "request-scoped", "connection"])
async def test_every_statement_of_a_request_is_counted(make_app: AppFactory, route: str) -> None:
    routes = DatabaseRoutes()
    app = make_app([routes])
    async with running(app), client(app) as http:
        # The first request opens the pool's connection; it must count the same.
        for count in (3, 0, 5):
            assert (await http.get(f"/{route}/{count}")).status_code == 200
        exposition = await scrape(http)

    assert [routes.finished[f"/{route}/{count}"].db_queries for count in (3, 0, 5)] == [3, 0, 5]
    assert routes.finished[f"/{route}/3"].db_time > 0
    assert routes.finished[f"/{route}/0"].db_time == 0
    template = {"route": f"/{route}/{{count}}"}
    assert exposition.total("http_request_db_queries_sum", **template) == 8
    assert exposition.total("http_request_db_queries_count", **template) == 3
    assert exposition.total("http_request_db_queries_bucket", le="2.0", **template) == 1
    assert exposition.total("http_request_db_queries_bucket", le="3.0", **template) == 2
    assert exposition.total("http_request_db_duration_seconds_sum", **template) > 0


@pytest.mark.asyncio
async def test_concurrent_requests_keep_their_own_counts(make_app: AppFactory) -> None:
    routes = DatabaseRoutes()
    app = make_app([routes], db_pool_size=4)
    async with running(app), client(app) as http:
        responses = await asyncio.gather(
            http.get("/sleep/2"), http.get("/sleep/5"), http.get("/none"), http.get("/session/1")
        )
        assert [response.status_code for response in responses] == [200] * 4

    assert routes.finished["/sleep/2"].db_queries == 2
    assert routes.finished["/sleep/5"].db_queries == 5
    assert routes.finished["/none"].db_queries == 0
    assert routes.finished["/session/1"].db_queries == 1
    assert routes.finished["/sleep/2"].db_time >= 0.04
    assert routes.finished["/sleep/5"].db_time >= 0.1
    assert routes.finished["/none"].db_time == 0


@pytest.mark.asyncio
async def test_a_failing_statement_counts_with_its_time(make_app: AppFactory) -> None:
    routes = DatabaseRoutes()
    app = make_app([routes])
    async with running(app), client(app) as http:
        assert (await http.get("/failing")).status_code == 200
    facts = routes.finished["/failing"]
    assert facts.db_queries == 2
    assert facts.db_time > 0


@pytest.mark.asyncio
async def test_statements_outside_requests_count_nowhere(make_app: AppFactory) -> None:
    routes = DatabaseRoutes()
    app = make_app([routes])
    async with running(app), client(app) as http:
        engine = app.state.chassis.engine
        assert query_timing_installed(engine)
        assert (await http.get("/session/1")).status_code == 200
        async with engine.connect() as connection:
            await connection.execute(select(1))
        assert (await http.get("/none")).status_code == 200
        exposition = await scrape(http)
    assert routes.finished["/session/1"].db_queries == 1
    assert routes.finished["/none"].db_queries == 0
    assert exposition.total("http_request_db_queries_sum") == 1


@pytest.mark.asyncio
async def test_installing_twice_counts_once_and_removal_stops_counting(
    make_app: AppFactory,
) -> None:
    routes = DatabaseRoutes()
    app = make_app([routes])
    async with running(app), client(app) as http:
        engine = app.state.chassis.engine
        install_query_timing(engine)
        await http.get("/session/2")
        remove_query_timing(engine)
        assert not query_timing_installed(engine)
        await http.get("/session/4")
        remove_query_timing(engine)  # harmless when not installed
    assert routes.finished["/session/2"].db_queries == 2
    assert routes.finished["/session/4"].db_queries == 0


@pytest.mark.asyncio
async def test_timing_is_off_with_the_metrics_plugin(make_app: AppFactory) -> None:
    routes = DatabaseRoutes()
    app = make_app([routes], metrics_enabled=False)
    async with running(app), client(app) as http:
        assert not query_timing_installed(app.state.chassis.engine)
        await http.get("/session/2")
    assert routes.finished["/session/2"].db_queries == 0
