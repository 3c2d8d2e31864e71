"""The catalogue: adding products and changing them, with the events that follow."""

import uuid
from collections.abc import Mapping

from fastapi_chassis.db import AsyncRepository
from fastapi_chassis.events import record_event
from sqlalchemy.ext.asyncio import AsyncSession

from shop.events import InventoryAdjusted, ProductPriceChanged
from shop.models import Product
from shop.money import CURRENCY


async def create_product(session: AsyncSession, values: Mapping[str, object]) -> Product:
    """Add a product; initial stock is recorded as an inventory adjustment.

    Raises:
        IntegrityError: If a live product has the same SKU (answered with 409).
    """
    product = await AsyncRepository(session, Product).create(Product(**values))
    if product.stock_on_hand:
        await record_event(
            session,
            InventoryAdjusted(
                aggregate_id=product.id,
                delta=product.stock_on_hand,
                on_hand=product.stock_on_hand,
                reason="initial stock",
            ),
        )
    return product


async def update_product(
    session: AsyncSession,
    product_id: uuid.UUID,
    changes: Mapping[str, object],
    *,
    expected_version: int,
) -> Product:
    """Change a product's details; a new price is announced with ``ProductPriceChanged``.

    Raises:
        NotFound: If there is no live product with this id.
        ConcurrencyConflict: If the product is not at ``expected_version``.
    """
    products = AsyncRepository(session, Product)
    # The update below only applies at expected_version, so the price read here
    # is the one it replaces whenever it succeeds.
    old_price = (await products.get(product_id)).price_cents
    product = await products.update(product_id, changes, expected_version=expected_version)
    if product.price_cents != old_price:
        await record_event(
            session,
            ProductPriceChanged(
                aggregate_id=product.id,
                old_price_cents=old_price,
                new_price_cents=product.price_cents,
                currency=CURRENCY,
            ),
        )
    return product
