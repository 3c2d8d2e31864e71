"""Orders, their lines, and the order lifecycle."""

import datetime
import uuid
from enum import StrEnum

from fastapi_chassis.db import (
    AuditMixin,
    Base,
    TimestampMixin,
    UUIDv7PrimaryKeyMixin,
    VersionMixin,
)
from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.models.customers import Customer
from shop.models.products import Product


class OrderStatus(StrEnum):
    """Where an order is in its lifecycle."""

    PLACED = "placed"
    """Stock is reserved; waiting for payment."""
    PAID = "paid"
    """Paid; waiting to ship."""
    SHIPPED = "shipped"
    """Gone to the customer; the reserved stock left the warehouse."""
    CANCELLED = "cancelled"
    """Cancelled before it shipped; its reservations were released."""


ORDER_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PLACED: frozenset({OrderStatus.PAID, OrderStatus.CANCELLED}),
    OrderStatus.PAID: frozenset({OrderStatus.SHIPPED, OrderStatus.CANCELLED}),
    OrderStatus.SHIPPED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
}
"""The statuses each status may move to; shipped and cancelled are final."""

_STATUSES = ", ".join(f"'{status}'" for status in OrderStatus)


class Order(UUIDv7PrimaryKeyMixin, TimestampMixin, VersionMixin, AuditMixin, Base):
    """An order: who bought what, for how much, and where it is in its lifecycle.

    Orders are never deleted, soft or otherwise: a cancelled order is part of the
    books.
    """

    __tablename__ = "orders"
    __table_args__ = (
        # Listings page newest first, optionally per customer or per status.
        Index("ix_orders_placed_at", "placed_at"),
        Index("ix_orders_customer_id_placed_at", "customer_id", "placed_at"),
        Index("ix_orders_status_placed_at", "status", "placed_at"),
        CheckConstraint(f"status IN ({_STATUSES})", name="status_known"),
        CheckConstraint("total_cents >= 0", name="total_not_negative"),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"))
    status: Mapped[str] = mapped_column(String(16), default=OrderStatus.PLACED.value)
    total_cents: Mapped[int]
    placed_at: Mapped[datetime.datetime] = mapped_column(server_default=func.now())
    paid_at: Mapped[datetime.datetime | None]
    shipped_at: Mapped[datetime.datetime | None]
    cancelled_at: Mapped[datetime.datetime | None]
    cancel_reason: Mapped[str | None] = mapped_column(Text)

    # Eager, because async code cannot lazy-load: one extra SELECT per batch of orders.
    items: Mapped[list["OrderItem"]] = relationship(
        lazy="selectin", order_by="OrderItem.line_number", back_populates="order"
    )
    # Set when building an order (factories); never loaded behind the code's back.
    customer: Mapped[Customer] = relationship(lazy="raise")


class OrderItem(UUIDv7PrimaryKeyMixin, Base):
    """One line of an order: a product, how many, and the price paid.

    Lines are written once, with their order, and never change: the price is
    copied from the product so later price changes leave past orders alone.
    """

    __tablename__ = "order_items"
    __table_args__ = (
        # Also the index behind the foreign key to orders.
        UniqueConstraint("order_id", "product_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("line_total_cents = quantity * unit_price_cents", name="line_total"),
    )

    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"), index=True)
    line_number: Mapped[int]
    quantity: Mapped[int]
    unit_price_cents: Mapped[int]
    line_total_cents: Mapped[int]

    order: Mapped[Order] = relationship(back_populates="items")
    product: Mapped[Product] = relationship(lazy="raise")
