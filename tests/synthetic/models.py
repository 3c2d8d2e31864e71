"""An e-commerce schema for the synthetic-data tests (table names start with ``syn_``)."""

from __future__ import annotations

import datetime
import decimal
from uuid import UUID

from sqlalchemy import ForeignKey, Numeric, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fastapi_chassis.db import (
    Base,
    SoftDeleteMixin,
    TimestampMixin,
    UUIDv7PrimaryKeyMixin,
    VersionMixin,
    soft_unique_index,
)

Money = Numeric(12, 2)


class ShopCategory(UUIDv7PrimaryKeyMixin, TimestampMixin, Base):
    __tablename__ = "syn_categories"

    name: Mapped[str] = mapped_column(unique=True)


class ShopCustomer(UUIDv7PrimaryKeyMixin, TimestampMixin, SoftDeleteMixin, VersionMixin, Base):
    __tablename__ = "syn_customers"
    __table_args__ = (soft_unique_index("email"),)

    email: Mapped[str]
    first_name: Mapped[str]
    last_name: Mapped[str]
    address: Mapped[str] = mapped_column(Text)
    country_code: Mapped[str] = mapped_column(String(2))
    cohort: Mapped[str]
    orders: Mapped[list[ShopOrder]] = relationship(back_populates="customer")


class ShopProduct(UUIDv7PrimaryKeyMixin, TimestampMixin, SoftDeleteMixin, VersionMixin, Base):
    __tablename__ = "syn_products"
    __table_args__ = (soft_unique_index("sku"),)

    sku: Mapped[str]
    name: Mapped[str]
    price: Mapped[decimal.Decimal] = mapped_column(Money)
    category_id: Mapped[UUID | None] = mapped_column(ForeignKey("syn_categories.id"), index=True)
    category: Mapped[ShopCategory | None] = relationship()


class ShopOrder(UUIDv7PrimaryKeyMixin, TimestampMixin, VersionMixin, Base):
    __tablename__ = "syn_orders"

    customer_id: Mapped[UUID] = mapped_column(ForeignKey("syn_customers.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    total: Mapped[decimal.Decimal] = mapped_column(Money)
    line_count: Mapped[int]
    placed_at: Mapped[datetime.datetime]
    customer: Mapped[ShopCustomer] = relationship(back_populates="orders")
    items: Mapped[list[ShopOrderItem]] = relationship(back_populates="order")


class ShopOrderItem(UUIDv7PrimaryKeyMixin, TimestampMixin, Base):
    __tablename__ = "syn_order_items"
    __table_args__ = (UniqueConstraint("order_id", "product_id"),)

    order_id: Mapped[UUID] = mapped_column(ForeignKey("syn_orders.id"), index=True)
    product_id: Mapped[UUID] = mapped_column(ForeignKey("syn_products.id"), index=True)
    quantity: Mapped[int]
    unit_price: Mapped[decimal.Decimal] = mapped_column(Money)
    order: Mapped[ShopOrder] = relationship(back_populates="items")
    product: Mapped[ShopProduct] = relationship()


SHOP_TABLES: list[Table] = [
    model.__table__  # type: ignore[misc]
    for model in (ShopCategory, ShopCustomer, ShopProduct, ShopOrder, ShopOrderItem)
]
"""The tables, parents first."""
