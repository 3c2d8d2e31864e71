from __future__ import annotations

import pytest
from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field
from sqlalchemy import text

from fastapi_chassis import hookimpl
from fastapi_chassis.api import SessionDep
from fastapi_chassis.api.errors import problem_for
from fastapi_chassis.db import ConcurrencyConflict, InvalidQuery, RestoreConflict
from tests.api.conftest import AppFactory, running


class Order(BaseModel):
    quantity: int = Field(gt=0)
    sku: str


class Failing:
    name = "test.failing"

    def __init__(self) -> None:
        self.router = APIRouter()
        router = self.router

        @router.post("/orders")
        async def place(order: Order) -> Order:
            return order

        @router.get("/teapot")
        async def teapot() -> None:
            raise HTTPException(status_code=418, detail="short and stout", headers={"X-Tea": "1"})

        @router.get("/bad-filter")
        async def bad_filter() -> None:
            raise InvalidQuery("filter 'colour': unknown field")

        @router.get("/overflow")
        async def overflow(session: SessionDep) -> None:
            await session.execute(text("SELECT CAST(:n AS integer)"), {"n": "99999999999"})

        @router.post("/violations/{kind}")
        async def violate(kind: str, session: SessionDep) -> None:
            # A temporary table: each session has its own, nothing to clean up.
            await session.execute(
                text(
                    "CREATE TEMPORARY TABLE gauge (level integer NOT NULL"
                    " CONSTRAINT gauge_level_positive CHECK (level > 0))"
                )
            )
            level = "NULL" if kind == "null" else "-1"
            await session.execute(text(f"INSERT INTO gauge (level) VALUES ({level})"))

        @router.get("/structured")
        async def structured() -> None:
            raise HTTPException(status_code=400, detail={"internal": "state"})

    @hookimpl
    def chassis_routers(self, version: str) -> list[APIRouter]:
        return [self.router] if version == "1" else []


@pytest.mark.asyncio
async def test_validation_errors_are_422_problems_with_the_errors(make_app: AppFactory) -> None:
    async with running(make_app([Failing()])) as client:
        response = await client.post("/orders", json={"quantity": 0})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("/validation-error")
    locations = sorted(tuple(error["loc"]) for error in problem["errors"])
    assert locations == [("body", "quantity"), ("body", "sku")]
    assert problem["correlation_id"] == response.headers["x-correlation-id"]


@pytest.mark.asyncio
async def test_http_exceptions_keep_status_detail_and_headers(make_app: AppFactory) -> None:
    async with running(make_app([Failing()])) as client:
        teapot = await client.get("/teapot")
        structured = await client.get("/structured")
        invalid = await client.get("/bad-filter")
    assert teapot.status_code == 418
    assert teapot.headers["x-tea"] == "1"
    assert teapot.json()["detail"] == "short and stout"
    assert teapot.json()["type"] == "about:blank"
    assert structured.status_code == 400
    assert "internal" not in structured.text
    assert invalid.status_code == 400
    assert invalid.json()["type"].endswith("/invalid-query")


@pytest.mark.asyncio
async def test_a_value_the_database_rejects_is_a_400_without_sql(make_app: AppFactory) -> None:
    async with running(make_app([Failing()])) as client:
        response = await client.get("/overflow")
    assert response.status_code == 400
    assert response.json()["type"].endswith("/invalid-value")
    assert "SELECT" not in response.text
    assert "integer" not in response.text


@pytest.mark.asyncio
async def test_method_not_allowed_is_a_problem(make_app: AppFactory) -> None:
    async with running(make_app([Failing()])) as client:
        response = await client.delete("/orders")
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"


def test_problem_mapping_of_conflicts() -> None:
    conflict = ConcurrencyConflict("Product", "id-1", expected_version=1, actual_version=3)
    assert problem_for(conflict).status == 409
    assert problem_for(conflict, conditional=True).status == 412
    assert problem_for(conflict).extensions["current_version"] == 3
    restore = problem_for(RestoreConflict("products", "uq_products_sku_live", "Key (sku)=(A)"))
    assert restore.status == 409
    unknown = problem_for(KeyError("secret"))
    assert unknown.status == 500
    assert unknown.detail is None
    assert "secret" not in unknown.body().decode()


@pytest.mark.asyncio
async def test_check_and_not_null_violations_are_409s_naming_what_was_broken(
    make_app: AppFactory,
) -> None:
    async with running(make_app([Failing()])) as client:
        check = await client.post("/violations/check")
        null = await client.post("/violations/null")
    for response in (check, null):
        assert response.status_code == 409
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/constraint-violation")
        assert "INSERT" not in response.text
    assert check.json()["constraint"] == "gauge_level_positive"
    assert null.json()["column"] == "level"
