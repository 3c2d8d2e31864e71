"""The shop's tables, all on the chassis's ``Base`` (so one ``MetaData`` holds everything).

Importing :mod:`fastapi_chassis.events` puts the outbox table in the same metadata,
which is what ``create_all()``, Alembic's autogenerate and the test plugin read.
"""

import fastapi_chassis.events  # noqa: F401  (registers the outbox table on Base.metadata)
from fastapi_chassis.db import Base

from shop.models.customers import Customer
from shop.models.orders import ORDER_TRANSITIONS, Order, OrderItem, OrderStatus
from shop.models.products import Product
from shop.models.reservations import ReservationState, StockReservation

__all__ = [
    "ORDER_TRANSITIONS",
    "Base",
    "Customer",
    "Order",
    "OrderItem",
    "OrderStatus",
    "Product",
    "ReservationState",
    "StockReservation",
]
