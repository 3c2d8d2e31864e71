"""The quickstart's model served by FastAPI, with the engine and sessions wired by hand.

Run it next to ``quickstart.py`` (whose ``main()`` created the table):

    CHASSIS_DATABASE_URL=postgresql://postgres@localhost:5432/scratch uvicorn fastapi_app:app
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated
from uuid import UUID

from fastapi import Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel, ConfigDict
from quickstart import Product
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fastapi_chassis import ChassisSettings
from fastapi_chassis.db import AsyncRepository, NotFound, create_engine, create_sessionmaker


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    engine = create_engine(ChassisSettings())
    app.state.sessionmaker = create_sessionmaker(engine)
    yield
    await engine.dispose()


async def session_per_request(request: Request) -> AsyncIterator[AsyncSession]:
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    # session.begin() commits when the endpoint returns and rolls back when it raises.
    async with sessionmaker() as session, session.begin():
        yield session


# scope="function" closes the dependency before the response is sent, so an error
# at commit time becomes an error response instead of following a 200.
Session = Annotated[AsyncSession, Depends(session_per_request, scope="function")]

app = FastAPI(lifespan=lifespan)


class ProductIn(BaseModel):
    sku: str
    name: str


class ProductOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    sku: str
    name: str
    version: int


@app.post("/products", status_code=201)
async def create_product(body: ProductIn, session: Session) -> ProductOut:
    product = await AsyncRepository(session, Product).create(Product(**body.model_dump()))
    return ProductOut.model_validate(product)


@app.get("/products/{product_id}")
async def read_product(product_id: UUID, session: Session) -> ProductOut:
    try:
        product = await AsyncRepository(session, Product).get(product_id)
    except NotFound:
        raise HTTPException(status_code=404, detail="no such product") from None
    return ProductOut.model_validate(product)
