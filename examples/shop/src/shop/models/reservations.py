"""Stock reservations: units held for an order between placing and shipping it."""

import uuid
from enum import StrEnum

from fastapi_chassis.db import Base, TimestampMixin, UUIDv7PrimaryKeyMixin
from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column


class ReservationState(StrEnum):
    """What became of a reservation."""

    HELD = "held"
    """The units are set aside for the order (``Product.stock_reserved`` counts them)."""
    FULFILLED = "fulfilled"
    """The order shipped: the units left the warehouse."""
    RELEASED = "released"
    """The order was cancelled: the units are available again."""


_STATES = ", ".join(f"'{state}'" for state in ReservationState)


class StockReservation(UUIDv7PrimaryKeyMixin, TimestampMixin, Base):
    """Units of one product held for one order.

    ``Product.stock_reserved`` is the sum of the held reservations of the product;
    both change in the same transaction, under the product's row lock.
    """

    __tablename__ = "stock_reservations"
    __table_args__ = (
        UniqueConstraint("order_id", "product_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint(f"state IN ({_STATES})", name="state_known"),
    )

    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"), index=True)
    quantity: Mapped[int]
    state: Mapped[str] = mapped_column(String(16), default=ReservationState.HELD.value)
