"""Products: the catalogue, with each product's stock level."""

from fastapi_chassis.db import (
    AuditMixin,
    Base,
    SoftDeleteMixin,
    TimestampMixin,
    UUIDv7PrimaryKeyMixin,
    VersionMixin,
    soft_unique_index,
)
from sqlalchemy import CheckConstraint, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column


class Product(
    UUIDv7PrimaryKeyMixin, TimestampMixin, SoftDeleteMixin, VersionMixin, AuditMixin, Base
):
    """A product for sale and its stock.

    Stock lives on the product row, so the row lock that an order takes to reserve
    units is the same lock a stock adjustment takes: the two serialize without any
    other coordination, and the check constraints make overselling impossible even
    for raw SQL. The price of that choice: the product's version (and ETag) moves
    whenever its stock does, so a client editing a product during a sale may have
    to re-read it first.
    """

    __tablename__ = "products"
    __table_args__ = (
        # A discontinued (deleted) product's SKU can be given to a new one.
        soft_unique_index("sku"),
        Index("ix_products_category_name", "category", "name"),
        CheckConstraint("price_cents >= 0", name="price_not_negative"),
        CheckConstraint("stock_on_hand >= 0", name="stock_not_negative"),
        CheckConstraint(
            "stock_reserved >= 0 AND stock_reserved <= stock_on_hand", name="reserved_within_stock"
        ),
    )

    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    category: Mapped[str] = mapped_column(String(64))
    price_cents: Mapped[int]
    """The list price in the shop's currency, in cents."""
    stock_on_hand: Mapped[int] = mapped_column(default=0, server_default="0")
    """Units in the warehouse, reserved ones included."""
    stock_reserved: Mapped[int] = mapped_column(default=0, server_default="0")
    """Units held for orders that have not shipped yet."""

    @property
    def stock_available(self) -> int:
        """Units that can still be ordered."""
        return self.stock_on_hand - self.stock_reserved
