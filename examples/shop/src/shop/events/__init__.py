"""The shop's domain events, recorded in the outbox with the changes they describe.

:data:`EVENT_TYPES` is what the plugin's ``chassis_event_types`` hook returns: the
registry every recorded event is validated against, and the source of
``chassis events catalog``.
"""

from fastapi_chassis.events import DomainEvent

from shop.events.inventory import InventoryAdjusted
from shop.events.orders import OrderCancelled, OrderLine, OrderPaid, OrderPlaced, OrderShipped
from shop.events.products import ProductPriceChanged

EVENT_TYPES: list[type[DomainEvent]] = [
    OrderPlaced,
    OrderPaid,
    OrderShipped,
    OrderCancelled,
    InventoryAdjusted,
    ProductPriceChanged,
]
"""Every event class the shop records."""

__all__ = [
    "EVENT_TYPES",
    "InventoryAdjusted",
    "OrderCancelled",
    "OrderLine",
    "OrderPaid",
    "OrderPlaced",
    "OrderShipped",
    "ProductPriceChanged",
]
