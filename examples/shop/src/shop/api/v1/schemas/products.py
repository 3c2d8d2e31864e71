"""Product and inventory bodies of version 1: prices in cents."""

import datetime
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from shop.api.v1.schemas.common import TEXT
from shop.models import Product
from shop.money import CURRENCY

Sku = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9-]{0,63}$")]
ProductName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=TEXT)
]
Description = Annotated[str, StringConstraints(max_length=2000, pattern=TEXT)]
Category = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=TEXT)
]
PriceCents = Annotated[int, Field(ge=0, le=100_000_000)]
StockUnits = Annotated[int, Field(ge=0, le=10_000_000)]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=TEXT)]

ProductSort = Literal["name", "-name", "price_cents", "-price_cents", "created_at", "-created_at"]


class ProductCreate(BaseModel):
    """A new product, optionally with the stock already on hand."""

    model_config = ConfigDict(extra="forbid")

    sku: Sku = Field(examples=["MUG-0042"])
    name: ProductName = Field(examples=["Stoneware mug"])
    description: Description = ""
    category: Category = Field(examples=["Kitchen"])
    price_cents: PriceCents = Field(examples=[1250])
    stock_on_hand: StockUnits = 0


class ProductUpdate(BaseModel):
    """Changes to a product; fields left out (or null) stay as they are.

    Stock is changed through the product's inventory, not here.
    """

    model_config = ConfigDict(extra="forbid")

    name: ProductName | None = None
    description: Description | None = None
    category: Category | None = None
    price_cents: PriceCents | None = None


class InventoryOut(BaseModel):
    """A product's stock."""

    product_id: uuid.UUID
    on_hand: int = Field(description="Units in the warehouse, reserved ones included.")
    reserved: int = Field(description="Units held for orders that have not shipped.")
    available: int = Field(description="Units that can still be ordered.")
    version: int = Field(description="The product's version, which the ETag carries.")

    @classmethod
    def of(cls, product: Product) -> "InventoryOut":
        """Return the body showing ``product``'s stock."""
        return cls(
            product_id=product.id,
            on_hand=product.stock_on_hand,
            reserved=product.stock_reserved,
            available=product.stock_available,
            version=product.version,
        )


class StockStatus(BaseModel):
    """How much of a product is left, as listings show it."""

    on_hand: int
    reserved: int
    available: int


class ProductOut(BaseModel):
    """A product, priced in cents."""

    id: uuid.UUID
    sku: str
    name: str
    description: str
    category: str
    price_cents: int
    currency: str = Field(examples=[CURRENCY])
    stock: StockStatus
    version: int
    created_at: datetime.datetime
    updated_at: datetime.datetime
    deleted_at: datetime.datetime | None

    @classmethod
    def of(cls, product: Product) -> "ProductOut":
        """Return the body showing ``product``."""
        return cls(
            id=product.id,
            sku=product.sku,
            name=product.name,
            description=product.description,
            category=product.category,
            price_cents=product.price_cents,
            currency=CURRENCY,
            stock=stock_status(product),
            version=product.version,
            created_at=product.created_at,
            updated_at=product.updated_at,
            deleted_at=product.deleted_at,
        )


def stock_status(product: Product) -> StockStatus:
    """Return the stock part of a product's body (shared by every API version)."""
    return StockStatus(
        on_hand=product.stock_on_hand,
        reserved=product.stock_reserved,
        available=product.stock_available,
    )


class StockAdjustment(BaseModel):
    """Units added to (or, negative, removed from) the stock on hand."""

    model_config = ConfigDict(extra="forbid")

    delta: int = Field(ge=-10_000_000, le=10_000_000, examples=[24])
    reason: Reason = Field(default="adjustment", examples=["received"])

    @field_validator("delta")
    @classmethod
    def _not_zero(cls, delta: int) -> int:
        if delta == 0:
            raise ValueError("an adjustment changes the stock: delta cannot be 0")
        return delta


class StockLevel(BaseModel):
    """A counted stock level, replacing the one on record (a stocktake)."""

    model_config = ConfigDict(extra="forbid")

    on_hand: StockUnits = Field(examples=[120])
    reason: Reason = "stocktake"
