"""The quickstart's model served by an application made with ``create_app``.

Run it next to ``quickstart.py``, which defines the model:

    CHASSIS_DATABASE_URL=postgresql://postgres@localhost:5432/scratch uvicorn fastapi_app:app
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, Response
from pydantic import BaseModel, ConfigDict
from quickstart import Product
from sqlalchemy import MetaData

from fastapi_chassis import ChassisSettings, create_app, hookimpl
from fastapi_chassis.api import SessionDep, etag_for, require_if_match
from fastapi_chassis.app import ChassisState
from fastapi_chassis.db import AsyncRepository, Base

router = APIRouter(prefix="/products", tags=["products"])


class ProductIn(BaseModel):
    sku: str
    name: str


class Rename(BaseModel):
    name: str


class ProductOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    sku: str
    name: str
    version: int


@router.post("", status_code=201)
async def create_product(body: ProductIn, session: SessionDep) -> ProductOut:
    # A live product with the same SKU: 409 problem+json naming the unique index.
    product = await AsyncRepository(session, Product).create(Product(**body.model_dump()))
    return ProductOut.model_validate(product)


@router.get("/{product_id}")
async def read_product(product_id: UUID, session: SessionDep, response: Response) -> ProductOut:
    # NotFound (absent or soft-deleted) becomes a 404 problem+json.
    product = await AsyncRepository(session, Product).get(product_id)
    response.headers["ETag"] = etag_for(product.version)
    return ProductOut.model_validate(product)


@router.patch("/{product_id}")
async def rename_product(
    product_id: UUID,
    body: Rename,
    session: SessionDep,
    response: Response,
    version: Annotated[int, Depends(require_if_match)],
) -> ProductOut:
    # No If-Match: 428. A stale one: 412. Both as problem+json.
    product = await AsyncRepository(session, Product).update(
        product_id, {"name": body.name}, expected_version=version
    )
    response.headers["ETag"] = etag_for(product.version)
    return ProductOut.model_validate(product)


class CatalogPlugin:
    """Everything this service adds to the chassis, through its hooks."""

    name = "catalog"

    @hookimpl
    def chassis_routers(self, version: str) -> Sequence[APIRouter] | None:
        return [router] if version == "1" else None

    @hookimpl
    def chassis_metadata(self) -> MetaData:
        return Base.metadata

    @hookimpl
    async def chassis_startup(self, app: FastAPI) -> None:
        # A shortcut for the example; a real service creates its schema with migrations.
        state: ChassisState = app.state.chassis  # settings, engine, sessionmaker
        if state.engine is not None:
            async with state.engine.begin() as connection:
                await connection.run_sync(Base.metadata.create_all)


app = create_app(ChassisSettings(), plugins=[CatalogPlugin()])
