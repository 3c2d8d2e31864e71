from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated
from uuid import UUID

import pytest
import pytest_asyncio
from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel
from sqlalchemy import text

from fastapi_chassis import ChassisSettings, hookimpl
from fastapi_chassis.api import SessionDep, etag_for, optional_if_match, require_if_match
from fastapi_chassis.api.etag import PreconditionFailed, parse_if_match
from fastapi_chassis.db import AsyncRepository, create_engine
from tests.api.conftest import AppFactory, running
from tests.db.models import Product


class Rename(BaseModel):
    name: str


class Catalogue:
    name = "test.catalogue"

    def __init__(self) -> None:
        self.router = APIRouter()
        router = self.router

        @router.post("/items/{sku}", status_code=201)
        async def create(sku: str, session: SessionDep) -> dict[str, str]:
            product = await AsyncRepository(session, Product).create(Product(sku=sku, name=sku))
            return {"id": str(product.id)}

        @router.get("/items/{item_id}")
        async def read(item_id: UUID, session: SessionDep, response: Response) -> dict[str, str]:
            product = await AsyncRepository(session, Product).get(item_id)
            response.headers["ETag"] = etag_for(product.version)
            return {"name": product.name}

        @router.put("/items/{item_id}")
        async def replace(
            item_id: UUID,
            body: Rename,
            session: SessionDep,
            version: Annotated[int, Depends(require_if_match)],
            response: Response,
        ) -> dict[str, str]:
            product = await AsyncRepository(session, Product).update(
                item_id, body.model_dump(), expected_version=version
            )
            response.headers["ETag"] = etag_for(product.version)
            return {"name": product.name}

        @router.patch("/items/{item_id}")
        async def patch(
            item_id: UUID,
            body: Rename,
            session: SessionDep,
            version: Annotated[int | None, Depends(optional_if_match)],
        ) -> dict[str, str]:
            product = await AsyncRepository(session, Product).update(
                item_id, body.model_dump(), expected_version=version
            )
            return {"name": product.name}

    @hookimpl
    def chassis_routers(self, version: str) -> list[APIRouter]:
        return [self.router] if version == "1" else []


@pytest_asyncio.fixture
async def cleanup(chassis_database_url: str) -> AsyncIterator[None]:
    yield
    engine = create_engine(ChassisSettings(database_url=chassis_database_url))
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM t_products WHERE sku LIKE 'etag-%'"))
    await engine.dispose()


@pytest.mark.asyncio
@pytest.mark.usefixtures("cleanup")
async def test_conditional_writes_round_trip(make_app: AppFactory) -> None:
    async with running(make_app([Catalogue()])) as client:
        item_id = (await client.post("/items/etag-1")).json()["id"]
        read = await client.get(f"/items/{item_id}")
        tag = read.headers["etag"]
        # Row version 1 as served by API version 1 (the default).
        assert tag == '"1.1"'
        written = await client.put(
            f"/items/{item_id}", json={"name": "renamed"}, headers={"If-Match": tag}
        )
        assert written.status_code == 200
        assert written.headers["etag"] == '"2.1"'
        stale = await client.put(
            f"/items/{item_id}", json={"name": "again"}, headers={"If-Match": tag}
        )
        assert stale.status_code == 412
        assert stale.json()["current_version"] == 2
        missing = await client.put(f"/items/{item_id}", json={"name": "blind"})
        assert missing.status_code == 428
        weak = await client.put(
            f"/items/{item_id}", json={"name": "weak"}, headers={"If-Match": 'W/"2.1"'}
        )
        assert weak.status_code == 412
        star = await client.put(
            f"/items/{item_id}", json={"name": "any"}, headers={"If-Match": "*"}
        )
        assert star.status_code == 428
        # Without If-Match a lost race is a 409, not a 412.
        unconditional = await client.patch(f"/items/{item_id}", json={"name": "free"})
        assert unconditional.status_code == 200
        final = await client.get(f"/items/{item_id}")
    assert final.json() == {"name": "free"}
    assert final.headers["etag"] == '"3.1"'


def test_etags_name_the_api_version_and_only_match_it() -> None:
    assert etag_for(7, "2") == '"7.2"'
    assert parse_if_match('"7.2"', "2") == 7
    assert parse_if_match(' "7.2" ', "2") == 7
    assert parse_if_match("*", "2") is None
    for header in ['"7.1"', '"7"', 'W/"7.2"', '"7.2", "8.2"', "7.2", '"x.2"', ""]:
        with pytest.raises(PreconditionFailed):
            parse_if_match(header, "2")
