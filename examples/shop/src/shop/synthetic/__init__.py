"""Synthetic data for the shop: factories for tests and for the chassis's scenarios.

:data:`ROLE_FACTORIES` binds the roles every scenario speaks of (customers,
products, orders, order lines) to the shop's factories; the plugin returns it
from ``chassis_factories``, so ``chassis synth run black-friday`` fills the
shop's tables.
"""

from shop.synthetic.factories import (
    CustomerFactory,
    OrderFactory,
    OrderItemFactory,
    ProductFactory,
)

ROLE_FACTORIES: dict[str, type] = {
    "customer": CustomerFactory,
    "product": ProductFactory,
    "order": OrderFactory,
    "order_item": OrderItemFactory,
}
"""Scenario role to factory, as the ``chassis_factories`` hook returns it."""

__all__ = [
    "ROLE_FACTORIES",
    "CustomerFactory",
    "OrderFactory",
    "OrderItemFactory",
    "ProductFactory",
]
