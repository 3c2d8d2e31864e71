"""Products in version 2: the routes whose bodies carry a price.

Each replaces the version 1 route with the same path and method; the work is
done by the same service functions, only the bodies differ.
"""

import uuid
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from fastapi_chassis.api import SessionDep, etag_for, optional_if_match, require_if_match
from fastapi_chassis.db import AsyncRepository

from shop.api.documentation import problem_responses
from shop.api.v1.schemas.common import TEXT, Page
from shop.api.v2.schemas.products import (
    ProductCreateV2,
    ProductOutV2,
    ProductSortV2,
    ProductUpdateV2,
)
from shop.dependencies import DeletedDep, PageDep, current_actor
from shop.models import Product
from shop.money import cents_from_amount
from shop.services import catalog

router = APIRouter(prefix="/products", tags=["products"], dependencies=[Depends(current_actor)])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(400, 409),
    summary="Add a product",
)
async def create_product(
    body: ProductCreateV2, session: SessionDep, response: Response
) -> ProductOutV2:
    """Add a product to the catalogue; a live product with the same SKU is a 409."""
    product = await catalog.create_product(session, body.values())
    response.headers["Location"] = f"/products/{product.id}"
    response.headers["ETag"] = etag_for(product.version)
    return ProductOutV2.of(product)


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
    min_price: Annotated[Decimal | None, Query(ge=0, le=1_000_000, decimal_places=2)] = None,
    max_price: Annotated[Decimal | None, Query(ge=0, le=1_000_000, decimal_places=2)] = None,
    sort: ProductSortV2 = "name",
) -> Page[ProductOutV2]:
    """List products, filtered, in pages (pass ``next_cursor`` back as ``after``)."""
    filters = {
        "category": category,
        "name__contains": q,
        "price_cents__ge": cents_from_amount(min_price) if min_price is not None else None,
        "price_cents__le": cents_from_amount(max_price) if max_price is not None else None,
    }
    result = await AsyncRepository(session, Product).list(
        limit=page.limit,
        after=page.after,
        order_by=sort.replace("price", "price_cents"),
        include_deleted=deleted.include_deleted,
        only_deleted=deleted.only_deleted,
        filters={name: value for name, value in filters.items() if value is not None},
    )
    return Page(
        items=[ProductOutV2.of(item) for item in result.items], next_cursor=result.next_cursor
    )


@router.get("/{product_id}", responses=problem_responses(404), summary="Read a product")
async def read_product(
    product_id: uuid.UUID, session: SessionDep, response: Response
) -> ProductOutV2:
    """Return a live product, with its ETag for conditional writes."""
    product = await AsyncRepository(session, Product).get(product_id)
    response.headers["ETag"] = etag_for(product.version)
    return ProductOutV2.of(product)


@router.patch(
    "/{product_id}",
    responses=problem_responses(400, 404, 409, 412, 428),
    summary="Change a product",
)
async def update_product(
    product_id: uuid.UUID,
    body: ProductUpdateV2,
    session: SessionDep,
    response: Response,
    version: Annotated[int, Depends(require_if_match)],
) -> ProductOutV2:
    """Change a product's details; needs ``If-Match`` with the ETag it was read with."""
    product = await catalog.update_product(
        session, product_id, body.changes(), expected_version=version
    )
    response.headers["ETag"] = etag_for(product.version)
    return ProductOutV2.of(product)


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
) -> ProductOutV2:
    """Bring a deleted product back; 409 if a live product has taken its SKU meanwhile."""
    product = await AsyncRepository(session, Product).restore(product_id, expected_version=version)
    response.headers["ETag"] = etag_for(product.version)
    return ProductOutV2.of(product)
