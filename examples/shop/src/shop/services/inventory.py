"""Stock: receiving goods, stocktakes, and holding units for orders.

Every change to a product's stock is one ``UPDATE`` of the product row whose
``WHERE`` clause carries the rule (enough units available, never below the
reserved units). The row lock that statement takes makes concurrent orders for
the same product queue up, and PostgreSQL re-checks the ``WHERE`` clause against
the row each one finds after the wait, so the last unit is sold once. Statements
that lock several products lock them in key order, so two orders for the same
products cannot deadlock.
"""

import uuid
from collections.abc import Iterable, Mapping

from fastapi_chassis.db import AsyncRepository, ConcurrencyConflict
from fastapi_chassis.events import record_event
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shop.errors import InsufficientStock, StockBelowReservations, UnknownReference
from shop.events import InventoryAdjusted
from shop.models import Product, ReservationState, StockReservation


async def adjust_stock(
    session: AsyncSession, product_id: uuid.UUID, delta: int, reason: str
) -> Product:
    """Add ``delta`` units (negative: remove them) to a live product's stock on hand.

    Raises:
        NotFound: If there is no live product with this id.
        StockBelowReservations: If removing the units would leave fewer on hand than
            are reserved for open orders.
    """
    statement = (
        update(Product)
        .where(
            Product.id == product_id,
            Product.deleted_at.is_(None),
            Product.stock_on_hand + delta >= Product.stock_reserved,
        )
        .values(stock_on_hand=Product.stock_on_hand + delta)
        .returning(Product)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    product = (await session.execute(statement)).scalars().first()
    if product is None:
        current = await AsyncRepository(session, Product).get(product_id)
        raise StockBelowReservations(
            product_id, current.stock_on_hand + delta, current.stock_reserved
        )
    await record_event(
        session,
        InventoryAdjusted(
            aggregate_id=product_id, delta=delta, on_hand=product.stock_on_hand, reason=reason
        ),
    )
    return product


async def set_stock(
    session: AsyncSession,
    product_id: uuid.UUID,
    on_hand: int,
    *,
    expected_version: int,
    reason: str,
) -> Product:
    """Set a product's stock on hand to a counted number (a stocktake).

    An absolute count is only right for the stock it was counted against, hence
    the version check; adjustments (:func:`adjust_stock`) are relative and need
    none.

    Raises:
        NotFound: If there is no live product with this id.
        ConcurrencyConflict: If the product is not at ``expected_version``.
        StockBelowReservations: If ``on_hand`` is below the reserved units.
    """
    products = AsyncRepository(session, Product)
    current = await products.get(product_id)
    if current.version != expected_version:
        raise ConcurrencyConflict(
            "Product",
            product_id,
            expected_version=expected_version,
            actual_version=current.version,
        )
    # The version pins the reserved units too: reserving bumps it.
    if on_hand < current.stock_reserved:
        raise StockBelowReservations(product_id, on_hand, current.stock_reserved)
    delta = on_hand - current.stock_on_hand
    product = await products.update(
        product_id, {"stock_on_hand": on_hand}, expected_version=expected_version
    )
    if delta:
        await record_event(
            session,
            InventoryAdjusted(aggregate_id=product_id, delta=delta, on_hand=on_hand, reason=reason),
        )
    return product


# --8<-- [start:reserve]
async def reserve(
    session: AsyncSession, quantities: Mapping[uuid.UUID, int]
) -> dict[uuid.UUID, int]:
    """Hold units of several products, all or none, and return their unit prices in cents.

    Raises:
        UnknownReference: If a product does not exist or is deleted.
        InsufficientStock: If a product has fewer units available than asked for.
    """
    prices: dict[uuid.UUID, int] = {}
    for product_id in sorted(quantities):
        quantity = quantities[product_id]
        statement = (
            update(Product)
            .where(
                Product.id == product_id,
                Product.deleted_at.is_(None),
                Product.stock_on_hand - Product.stock_reserved >= quantity,
            )
            .values(stock_reserved=Product.stock_reserved + quantity)
            .returning(Product.price_cents)
            .execution_options(synchronize_session=False)
        )
        price = (await session.execute(statement)).scalar_one_or_none()
        if price is None:
            await _explain_refusal(session, product_id, quantity)
        else:
            prices[product_id] = price
    return prices


# --8<-- [end:reserve]


async def _explain_refusal(session: AsyncSession, product_id: uuid.UUID, quantity: int) -> None:
    row = (
        await session.execute(
            select(Product.stock_on_hand, Product.stock_reserved).where(Product.id == product_id)
        )
    ).first()
    if row is None:
        raise UnknownReference("product_id", product_id)
    raise InsufficientStock(product_id, quantity, row.stock_on_hand - row.stock_reserved)


async def settle_reservations(
    session: AsyncSession, reservations: Iterable[StockReservation], outcome: ReservationState
) -> None:
    """Fulfil (the order shipped) or release (it was cancelled) held reservations.

    Fulfilling takes the units out of the warehouse and records an
    ``InventoryAdjusted`` event per product; releasing makes them available again.
    Discontinued (soft-deleted) products are settled too: the units were promised.
    """
    shipped = outcome is ReservationState.FULFILLED
    for reservation in sorted(reservations, key=lambda item: item.product_id):
        if reservation.state != ReservationState.HELD:
            continue
        quantity = reservation.quantity
        values = {"stock_reserved": Product.stock_reserved - quantity}
        if shipped:
            values["stock_on_hand"] = Product.stock_on_hand - quantity
        statement = (
            update(Product)
            .where(Product.id == reservation.product_id)
            .values(values)
            .returning(Product.stock_on_hand)
            .execution_options(synchronize_session=False)
        )
        on_hand = (await session.execute(statement)).scalar_one()
        reservation.state = outcome.value
        if shipped:
            await record_event(
                session,
                InventoryAdjusted(
                    aggregate_id=reservation.product_id,
                    delta=-quantity,
                    on_hand=on_hand,
                    reason=f"shipped order {reservation.order_id}",
                ),
            )
