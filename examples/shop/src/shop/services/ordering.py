"""Orders: placing them, and moving them through their lifecycle.

```
placed ──pay──▶ paid ──ship──▶ shipped
   │              │
   └───cancel─────┴──▶ cancelled
```

Placing an order reserves its stock (see :mod:`shop.services.inventory`);
shipping takes the reserved units out of the warehouse; cancelling releases
them. Each transition locks the order's row first (``SELECT ... FOR UPDATE``),
so two clients cancelling and shipping the same order at once are served one
after the other, and the second finds the order in its new status.
"""

import datetime
import uuid
from collections.abc import Mapping

from fastapi_chassis.db import ConcurrencyConflict, NotFound
from fastapi_chassis.events import record_event
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shop.errors import InvalidTransition, UnknownReference
from shop.events import OrderCancelled, OrderLine, OrderPaid, OrderPlaced, OrderShipped
from shop.models import (
    ORDER_TRANSITIONS,
    Customer,
    Order,
    OrderItem,
    OrderStatus,
    ReservationState,
    StockReservation,
)
from shop.money import CURRENCY
from shop.services.inventory import reserve, settle_reservations


async def place_order(
    session: AsyncSession, customer_id: uuid.UUID, quantities: Mapping[uuid.UUID, int]
) -> Order:
    """Place an order for a live customer, reserving every line's stock.

    Args:
        session: The request's session.
        customer_id: Who orders.
        quantities: Units wanted, by product id (a product appears once).

    Raises:
        UnknownReference: If the customer or a product does not exist or is deleted.
        InsufficientStock: If a product has fewer units available than asked for;
            nothing is reserved then.
    """
    if await session.get(Customer, customer_id) is None:
        raise UnknownReference("customer_id", customer_id)
    prices = await reserve(session, quantities)
    # Lines keep the order the client listed them in.
    items = [
        OrderItem(
            product_id=product_id,
            line_number=line_number,
            quantity=quantity,
            unit_price_cents=prices[product_id],
            line_total_cents=quantity * prices[product_id],
        )
        for line_number, (product_id, quantity) in enumerate(quantities.items(), start=1)
    ]
    order = Order(
        customer_id=customer_id,
        status=OrderStatus.PLACED.value,
        total_cents=sum(item.line_total_cents for item in items),
        items=items,
    )
    session.add(order)
    # Reservations name the order by key only (no relationship to sort by), so
    # the order row goes in first.
    await session.flush()
    session.add_all(
        StockReservation(order_id=order.id, product_id=product_id, quantity=quantity)
        for product_id, quantity in quantities.items()
    )
    await record_event(
        session,
        OrderPlaced(
            aggregate_id=order.id,
            customer_id=customer_id,
            total_cents=order.total_cents,
            currency=CURRENCY,
            lines=[
                OrderLine(
                    product_id=item.product_id,
                    quantity=item.quantity,
                    unit_price_cents=item.unit_price_cents,
                )
                for item in order.items
            ],
        ),
    )
    return order


async def lock_order(
    session: AsyncSession, order_id: uuid.UUID, expected_version: int | None = None
) -> Order:
    """Return the order, its row locked until the transaction ends.

    Raises:
        NotFound: If there is no order with this id.
        ConcurrencyConflict: If ``expected_version`` is given and the order is not at it.
    """
    order = await session.scalar(
        select(Order)
        .where(Order.id == order_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if order is None:
        raise NotFound("Order", order_id)
    if expected_version is not None and order.version != expected_version:
        raise ConcurrencyConflict(
            "Order", order_id, expected_version=expected_version, actual_version=order.version
        )
    return order


def _require_transition(order: Order, target: OrderStatus) -> None:
    allowed = ORDER_TRANSITIONS[OrderStatus(order.status)]
    if target not in allowed:
        raise InvalidTransition(order.id, order.status, target, allowed)


async def _reservations(session: AsyncSession, order_id: uuid.UUID) -> list[StockReservation]:
    result = await session.scalars(
        select(StockReservation).where(StockReservation.order_id == order_id)
    )
    return list(result.all())


async def pay_order(
    session: AsyncSession, order_id: uuid.UUID, expected_version: int | None = None
) -> Order:
    """Mark a placed order paid.

    Raises:
        NotFound: If there is no such order.
        ConcurrencyConflict: If ``expected_version`` is stale.
        InvalidTransition: If the order is not placed.
    """
    order = await lock_order(session, order_id, expected_version)
    _require_transition(order, OrderStatus.PAID)
    order.status = OrderStatus.PAID.value
    order.paid_at = _now()
    await record_event(session, OrderPaid(aggregate_id=order.id, total_cents=order.total_cents))
    return order


async def ship_order(
    session: AsyncSession, order_id: uuid.UUID, expected_version: int | None = None
) -> Order:
    """Ship a paid order: its reserved units leave the warehouse.

    Raises:
        NotFound: If there is no such order.
        ConcurrencyConflict: If ``expected_version`` is stale.
        InvalidTransition: If the order is not paid.
    """
    order = await lock_order(session, order_id, expected_version)
    _require_transition(order, OrderStatus.SHIPPED)
    order.status = OrderStatus.SHIPPED.value
    order.shipped_at = _now()
    await record_event(session, OrderShipped(aggregate_id=order.id))
    await settle_reservations(
        session, await _reservations(session, order.id), ReservationState.FULFILLED
    )
    return order


async def cancel_order(
    session: AsyncSession,
    order_id: uuid.UUID,
    reason: str | None = None,
    expected_version: int | None = None,
) -> Order:
    """Cancel an order that has not shipped; its reserved units become available again.

    Raises:
        NotFound: If there is no such order.
        ConcurrencyConflict: If ``expected_version`` is stale.
        InvalidTransition: If the order has shipped or is already cancelled.
    """
    order = await lock_order(session, order_id, expected_version)
    _require_transition(order, OrderStatus.CANCELLED)
    previous = order.status
    order.status = OrderStatus.CANCELLED.value
    order.cancelled_at = _now()
    order.cancel_reason = reason
    await record_event(
        session, OrderCancelled(aggregate_id=order.id, previous_status=previous, reason=reason)
    )
    await settle_reservations(
        session, await _reservations(session, order.id), ReservationState.RELEASED
    )
    return order


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
