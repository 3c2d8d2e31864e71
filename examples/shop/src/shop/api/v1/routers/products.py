"""Products: the catalogue (version 1, prices in cents)."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from fastapi_chassis.api import SessionDep, etag_for, optional_if_match, require_if_match
from fastapi_chassis.db import AsyncRepository
from fastapi_chassis.db.audit import audit_history_router

from shop.api.documentation import problem_responses
from shop.api.v1.schemas.common import TEXT, Page
from shop.api.v1.schemas.products import ProductCreate, ProductOut, ProductSort, ProductUpdate
from shop.dependencies import DeletedDep, PageDep, current_actor
from shop.models import Product
from shop.services import catalog

router = APIRouter(prefix="/products", tags=["products"], dependencies=[Depends(current_actor)])

history = audit_history_router(Product, prefix="/products", tags=["products"])
"""``GET /products/{id}/history``: every change to a product, newest first."""


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(400, 409),
    summary="Add a product",
)
async def create_product(
    body: ProductCreate, session: SessionDep, response: Response
) -> ProductOut:
    """Add a product to the catalogue; a live product with the same SKU is a 409."""
    product = await catalog.create_product(session, body.model_dump())
    response.headers["Location"] = f"/products/{product.id}"
    response.headers["ETag"] = etag_for(product.version)
    return ProductOut.of(product)


@router.get("", responses=problem_responses(400), summary="List products")
async def list_products(
    *,
    session: SessionDep,
    page: PageDep,
    deleted: DeletedDep,
    category: Annotated[str | None, Query(max_length=64, pattern=TEXT)] = None,
    q: Annotated[
        str | None, Query(max_length=200, pattern=TEXT, description="Part of the name.")
    ] = None,
    min_price_cents: Annotated[int | None, Query(ge=0, le=100_000_000)] = None,
    max_price_cents: Annotated[int | None, Query(ge=0, le=100_000_000)] = None,
    sort: ProductSort = "name",
) -> Page[ProductOut]:
    """List products, filtered, in pages (pass ``next_cursor`` back as ``after``)."""
    filters = {
        "category": category,
        "name__contains": q,
        "price_cents__ge": min_price_cents,
        "price_cents__le": max_price_cents,
    }
    result = await AsyncRepository(session, Product).list(
        limit=page.limit,
        after=page.after,
        order_by=sort,
        include_deleted=deleted.include_deleted,
        only_deleted=deleted.only_deleted,
        filters={name: value for name, value in filters.items() if value is not None},
    )
    return Page(
        items=[ProductOut.of(item) for item in result.items], next_cursor=result.next_cursor
    )


@router.get("/{product_id}", responses=problem_responses(404), summary="Read a product")
async def read_product(
    product_id: uuid.UUID, session: SessionDep, response: Response
) -> ProductOut:
    """Return a live product, with its ETag for conditional writes."""
    product = await AsyncRepository(session, Product).get(product_id)
    response.headers["ETag"] = etag_for(product.version)
    return ProductOut.of(product)


@router.patch(
    "/{product_id}",
    responses=problem_responses(400, 404, 409, 412, 428),
    summary="Change a product",
)
async def update_product(
    product_id: uuid.UUID,
    body: ProductUpdate,
    session: SessionDep,
    response: Response,
    version: Annotated[int, Depends(require_if_match)],
) -> ProductOut:
    """Change a product's details; needs ``If-Match`` with the ETag it was read with."""
    product = await catalog.update_product(
        session, product_id, body.model_dump(exclude_none=True), expected_version=version
    )
    response.headers["ETag"] = etag_for(product.version)
    return ProductOut.of(product)


@router.delete(
    "/{product_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(404, 412, 428),
    summary="Discontinue a product",
)
async def delete_product(
    product_id: uuid.UUID,
    session: SessionDep,
    version: Annotated[int, Depends(require_if_match)],
) -> None:
    """Soft-delete a product: it leaves the catalogue, its orders and history stay."""
    await AsyncRepository(session, Product).soft_delete(product_id, expected_version=version)


@router.post(
    "/{product_id}/restore",
    responses=problem_responses(404, 409, 412),
    summary="Restore a discontinued product",
)
async def restore_product(
    product_id: uuid.UUID,
    session: SessionDep,
    response: Response,
    version: Annotated[int | None, Depends(optional_if_match)],
) -> ProductOut:
    """Bring a deleted product back; 409 if a live product has taken its SKU meanwhile."""
    product = await AsyncRepository(session, Product).restore(product_id, expected_version=version)
    response.headers["ETag"] = etag_for(product.version)
    return ProductOut.of(product)
