"""Models shared by the data-layer tests (table names start with ``t_``)."""

from __future__ import annotations

import decimal
from uuid import UUID

from sqlalchemy import Column, ForeignKey, Numeric, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fastapi_chassis.db import (
    Base,
    SoftDeleteMixin,
    TimestampMixin,
    UUIDv7PrimaryKeyMixin,
    VersionMixin,
    soft_unique_index,
)

product_tags = Table(
    "t_product_tags",
    Base.metadata,
    Column("product_id", ForeignKey("t_products.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("t_tags.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Category(UUIDv7PrimaryKeyMixin, TimestampMixin, SoftDeleteMixin, Base):
    __tablename__ = "t_categories"

    name: Mapped[str]
    products: Mapped[list[Product]] = relationship(back_populates="category")


class Product(UUIDv7PrimaryKeyMixin, TimestampMixin, SoftDeleteMixin, VersionMixin, Base):
    __tablename__ = "t_products"
    __table_args__ = (soft_unique_index("sku"),)

    sku: Mapped[str]
    name: Mapped[str]
    price: Mapped[decimal.Decimal] = mapped_column(Numeric(12, 2), default=decimal.Decimal("0"))
    stock: Mapped[int] = mapped_column(default=0)
    note: Mapped[str | None]
    category_id: Mapped[UUID | None] = mapped_column(ForeignKey("t_categories.id"), index=True)
    category: Mapped[Category | None] = relationship(back_populates="products")
    tags: Mapped[list[Tag]] = relationship(secondary=product_tags)


class Tag(UUIDv7PrimaryKeyMixin, SoftDeleteMixin, Base):
    __tablename__ = "t_tags"

    label: Mapped[str]


class Counter(UUIDv7PrimaryKeyMixin, VersionMixin, Base):
    """Versioned without timestamps or soft delete."""

    __tablename__ = "t_counters"

    value: Mapped[int] = mapped_column(default=0)
