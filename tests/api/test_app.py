from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Annotated
from uuid import UUID

import pytest
import pytest_asyncio
from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fastapi_chassis import ChassisSettings, create_app, hookimpl
from fastapi_chassis.api import SessionDep, get_session
from fastapi_chassis.api.sessions import TransactionMiddleware
from fastapi_chassis.db import AsyncRepository, create_engine
from tests.api.conftest import AppFactory, garbage_left_by_requests, running
from tests.db.models import Product


class ShopPlugin:
    name = "test.shop"

    def __init__(self) -> None:
        self.router = APIRouter()
        router = self.router

        @router.post("/products/{sku}")
        async def create(sku: str, session: SessionDep) -> dict[str, str]:
            product = await AsyncRepository(session, Product).create(Product(sku=sku, name=sku))
            return {"id": str(product.id)}

        @router.post("/late/{sku}")
        async def create_request_scoped(
            sku: str, session: Annotated[AsyncSession, Depends(get_session)]
        ) -> dict[str, str]:
            session.add(Product(sku=sku, name=sku))
            return {"status": "accepted"}

        @router.get("/products/{product_id}")
        async def read(product_id: UUID, session: SessionDep) -> dict[str, str]:
            return {"name": (await AsyncRepository(session, Product).get(product_id)).name}

        @router.post("/products/{product_id}/stale-rename")
        async def stale_rename(product_id: UUID, session: SessionDep) -> dict[str, str]:
            product = await AsyncRepository(session, Product).get(product_id)
            # Another writer moves the row on after this request read it.
            await session.execute(
                text("UPDATE t_products SET name = 'theirs' WHERE id = :id"), {"id": product_id}
            )
            product.name = "ours"
            await session.flush()  # the ORM's own version check: a bare StaleDataError
            return {"name": product.name}

        @router.post("/explode")
        async def explode(session: SessionDep) -> None:
            session.add(Product(sku="never", name="never"))
            raise RuntimeError("boom: SELECT secret FROM passwords")

    @hookimpl
    def chassis_routers(self, version: str) -> list[APIRouter]:
        return [self.router] if version == "1" else []


async def _skus(chassis_database_url: str) -> list[str]:
    engine = create_engine(ChassisSettings(database_url=chassis_database_url))
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT sku FROM t_products WHERE sku LIKE 'app-%'")
            )
            return sorted(row.sku for row in rows)
    finally:
        await engine.dispose()


@pytest_asyncio.fixture
async def cleanup(chassis_database_url: str) -> AsyncIterator[None]:
    yield
    engine = create_engine(ChassisSettings(database_url=chassis_database_url))
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM t_products WHERE sku LIKE 'app-%'"))
    await engine.dispose()


@pytest.mark.asyncio
@pytest.mark.usefixtures("cleanup")
@pytest.mark.parametrize("prefix", ["/products", "/late"])
async def test_a_conflict_found_at_commit_is_a_409_never_a_200(
    make_app: AppFactory, chassis_database_url: str, prefix: str
) -> None:
    async with running(make_app([ShopPlugin()])) as client:
        first = await client.post(f"{prefix}/app-dup")
        second = await client.post(f"{prefix}/app-dup")
    assert first.status_code == 200
    assert second.status_code == 409
    assert second.headers["content-type"] == "application/problem+json"
    problem = second.json()
    assert problem["constraint"] == "uq_t_products_sku_live"
    assert problem["correlation_id"] == second.headers["x-correlation-id"]
    assert await _skus(chassis_database_url) == ["app-dup"]


@pytest.mark.asyncio
@pytest.mark.usefixtures("cleanup")
async def test_an_unhandled_error_is_a_clean_500_logged_once(
    make_app: AppFactory, chassis_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(make_app([ShopPlugin()])) as client:
        response = await client.post("/explode", headers={"X-Correlation-ID": "req-42"})
    assert response.status_code == 500
    assert response.headers["x-correlation-id"] == "req-42"
    problem = response.json()
    assert problem["correlation_id"] == "req-42"
    assert "boom" not in response.text
    assert "SELECT" not in response.text
    assert await _skus(chassis_database_url) == []


@pytest.mark.asyncio
async def test_not_found_is_a_404_problem(make_app: AppFactory) -> None:
    async with running(make_app([ShopPlugin()])) as client:
        response = await client.get("/products/01890a5d-ac96-774b-bcce-b302099a8057")
        unknown_route = await client.get("/nowhere")
    assert response.status_code == 404
    assert response.json()["type"].endswith("/not-found")
    assert unknown_route.status_code == 404
    assert unknown_route.headers["content-type"] == "application/problem+json"


@pytest.mark.asyncio
async def test_the_lifespan_leaves_no_connection_behind(
    make_app: AppFactory, chassis_database_url: str
) -> None:
    app = make_app([ShopPlugin()], service_name="leak-check")
    async with running(app) as client:
        await client.get("/products/01890a5d-ac96-774b-bcce-b302099a8057")
        assert app.state.chassis.engine is not None
    assert app.state.chassis.engine is None
    engine = create_engine(ChassisSettings(database_url=chassis_database_url))
    try:
        async with engine.connect() as connection:
            count = await connection.scalar(
                text("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'leak-check'")
            )
    finally:
        await engine.dispose()
    assert count == 0


class Recorder:
    def __init__(self, name: str, log: list[str], *, fail: bool = False) -> None:
        self.name = name
        self.log = log
        self.fail = fail

    @hookimpl
    async def chassis_startup(self) -> None:
        if self.fail:
            raise RuntimeError("cannot start")
        self.log.append(f"start {self.name}")

    @hookimpl
    async def chassis_shutdown(self) -> None:
        self.log.append(f"stop {self.name}")


@pytest.mark.asyncio
async def test_a_failed_start_up_shuts_down_only_what_started(make_app: AppFactory) -> None:
    from fastapi_chassis.plugins import PluginError

    log: list[str] = []
    plugins = [
        Recorder("first", log),
        Recorder("second", log),
        Recorder("broken", log, fail=True),
        Recorder("never", log),
    ]
    app = make_app(plugins)
    with pytest.raises(PluginError, match="'broken' failed in hook chassis_startup"):
        async with running(app):
            pass
    assert log == ["start first", "start second", "stop second", "stop first"]
    assert app.state.chassis.engine is None


@pytest.mark.asyncio
@pytest.mark.usefixtures("cleanup")
async def test_the_orms_own_version_check_is_a_409_or_a_412(make_app: AppFactory) -> None:
    async with running(make_app([ShopPlugin()])) as client:
        created = (await client.post("/products/app-stale")).json()["id"]
        plain = await client.post(f"/products/{created}/stale-rename")
        conditional = await client.post(
            f"/products/{created}/stale-rename", headers={"If-Match": '"1.1"'}
        )
    assert plain.status_code == 409
    assert conditional.status_code == 412
    for response in (plain, conditional):
        assert response.json()["type"].endswith("/concurrency-conflict")


@pytest.mark.asyncio
@pytest.mark.usefixtures("cleanup")
async def test_the_transaction_middleware_alone_commits_before_the_response(
    chassis_database_url: str,
) -> None:
    # No chassis layer outside it: the middleware watches send itself.
    engine = create_engine(ChassisSettings(database_url=chassis_database_url))
    app = FastAPI()
    app.state.chassis = SimpleNamespace(sessionmaker=async_sessionmaker(engine))
    app.include_router(ShopPlugin().router)
    app.add_middleware(TransactionMiddleware)
    try:
        async with running(app) as client:
            first = await client.post("/late/app-alone")
            second = await client.post("/late/app-alone")
    finally:
        await engine.dispose()
    assert first.status_code == 200
    assert second.status_code == 409
    assert second.headers["content-type"] == "application/problem+json"
    assert await _skus(chassis_database_url) == ["app-alone"]


@pytest.mark.asyncio
async def test_a_request_through_the_whole_stack_leaves_no_reference_cycle() -> None:
    router = APIRouter()

    @router.get("/ping")
    async def ping() -> dict[str, str]:
        return {"status": "ok"}

    class Ping:
        name = "test.ping"

        @hookimpl
        def chassis_routers(self) -> list[APIRouter]:
            return [router]

    settings = ChassisSettings.model_validate({"log_configure": False})
    app = create_app(settings, plugins=[Ping()])
    async with app.router.lifespan_context(app):
        unreachable, statuses = await garbage_left_by_requests(app, path="/ping")
    assert statuses == [200] * 11
    assert unreachable == 0
