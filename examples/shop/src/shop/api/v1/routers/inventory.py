"""A product's inventory: stock levels, goods received, stocktakes."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi_chassis.api import SessionDep, etag_for, require_if_match
from fastapi_chassis.db import AsyncRepository

from shop.api.documentation import problem_responses
from shop.api.v1.schemas.products import InventoryOut, StockAdjustment, StockLevel
from shop.dependencies import current_actor
from shop.models import Product
from shop.services import inventory

router = APIRouter(
    prefix="/products/{product_id}/inventory",
    tags=["inventory"],
    dependencies=[Depends(current_actor)],
)


@router.get("", responses=problem_responses(404), summary="Read a product's stock")
async def read_inventory(
    product_id: uuid.UUID, session: SessionDep, response: Response
) -> InventoryOut:
    """Return the stock of a live product; the ETag is the product's."""
    product = await AsyncRepository(session, Product).get(product_id)
    response.headers["ETag"] = etag_for(product.version)
    return InventoryOut.of(product)


@router.put(
    "",
    responses=problem_responses(400, 404, 409, 412, 428),
    summary="Record a stocktake",
)
async def set_inventory(
    product_id: uuid.UUID,
    body: StockLevel,
    session: SessionDep,
    response: Response,
    version: Annotated[int, Depends(require_if_match)],
) -> InventoryOut:
    """Replace the stock on hand with a counted number; needs ``If-Match``.

    A count below the units reserved for open orders is refused (409).
    """
    product = await inventory.set_stock(
        session, product_id, body.on_hand, expected_version=version, reason=body.reason
    )
    response.headers["ETag"] = etag_for(product.version)
    return InventoryOut.of(product)


@router.post(
    "/adjustments",
    responses=problem_responses(400, 404, 409),
    summary="Add or remove stock",
)
async def adjust_inventory(
    product_id: uuid.UUID, body: StockAdjustment, session: SessionDep, response: Response
) -> InventoryOut:
    """Add units received (or remove damaged ones, with a negative delta).

    Adjustments are relative, so concurrent ones all apply and no ``If-Match`` is
    needed; removing more units than are unreserved is refused (409).
    """
    product = await inventory.adjust_stock(session, product_id, body.delta, body.reason)
    response.headers["ETag"] = etag_for(product.version)
    return InventoryOut.of(product)
