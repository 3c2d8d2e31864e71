"""Orders and their lines.

A scenario's orders are history (its window lies in the past): an order the
scenario marks as an abandoned cart is ``cancelled``, every other one was
delivered (``shipped``), and neither holds stock any more. Orders made by the
factory outside a scenario (in tests) are freshly ``placed``.
"""

# factory_boy's declarations have no annotations; mypy --strict would flag every call.
# mypy: disable-error-code="no-untyped-call"

import datetime
from typing import Any

from factory.declarations import LazyAttribute, SelfAttribute, SubFactory
from fastapi_chassis.synthetic import AsyncSQLAlchemyFactory, Planned

from shop.models import Order, OrderItem, OrderStatus
from shop.synthetic.factories.customers import CustomerFactory
from shop.synthetic.factories.products import ProductFactory

_TIME_TO_PAY = datetime.timedelta(minutes=7)
_TIME_TO_SHIP = datetime.timedelta(days=1, hours=3)
_TIME_TO_ABANDON = datetime.timedelta(hours=2)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def status_for(order: object) -> str:
    """Return the lifecycle status of an order from the scenario's verdict on it."""
    planned = getattr(order, "scenario_status", None)
    if planned is None:
        return OrderStatus.PLACED.value
    return OrderStatus.CANCELLED.value if planned == "abandoned" else OrderStatus.SHIPPED.value


def _after_placing(delay: datetime.timedelta, *statuses: OrderStatus) -> LazyAttribute:
    names = {status.value for status in statuses}

    # factory_boy hands LazyAttribute functions an untyped view of the row.
    def moment(order: Any) -> datetime.datetime | None:
        if order.status not in names:
            return None
        placed_at: datetime.datetime = order.placed_at
        return placed_at + delay

    return LazyAttribute(moment)


class OrderFactory(AsyncSQLAlchemyFactory[Order]):
    """An order of a customer; its lines and total come from a scenario or the test."""

    class Meta:
        model = Order

    class Params:
        # "placed" or "abandoned" in a scenario; None outside one.
        scenario_status = Planned("status", default=None)

    customer = SubFactory(CustomerFactory)
    status = LazyAttribute(status_for)
    total_cents = Planned("total_cents", default=0)
    placed_at = Planned("placed_at", default=_now)
    paid_at = _after_placing(_TIME_TO_PAY, OrderStatus.PAID, OrderStatus.SHIPPED)
    shipped_at = _after_placing(_TIME_TO_PAY + _TIME_TO_SHIP, OrderStatus.SHIPPED)
    cancelled_at = _after_placing(_TIME_TO_ABANDON, OrderStatus.CANCELLED)
    cancel_reason = LazyAttribute(
        lambda order: "abandoned cart" if order.status == OrderStatus.CANCELLED.value else None
    )


class OrderItemFactory(AsyncSQLAlchemyFactory[OrderItem]):
    """A line of an order, priced from its product unless the scenario says otherwise."""

    class Meta:
        model = OrderItem

    order = SubFactory(OrderFactory)
    product = SubFactory(ProductFactory)
    line_number = Planned("line_number", default=1)
    quantity = Planned("quantity", default=1)
    unit_price_cents = Planned("unit_price_cents", default=SelfAttribute("product.price_cents"))
    line_total_cents = Planned(
        "line_total_cents",
        default=LazyAttribute(lambda item: item.quantity * item.unit_price_cents),
    )
