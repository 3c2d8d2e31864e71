"""Product bodies of version 2: ``price`` is ``{"amount": "12.50", "currency": "EUR"}``.

Version 1's ``price_cents`` made every client divide by 100 (and some did it in
floating point). Version 2 sends a decimal string and the currency, the form
payment providers use.
"""

import datetime
import uuid
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from shop.api.v1.schemas.products import (
    Category,
    Description,
    ProductName,
    Sku,
    StockStatus,
    StockUnits,
    stock_status,
)
from shop.models import Product
from shop.money import CURRENCY, cents_from_amount, format_cents

Amount = Annotated[
    Decimal,
    Field(ge=0, le=1_000_000, max_digits=9, decimal_places=2, examples=["12.50"]),
]

ProductSortV2 = Literal["name", "-name", "price", "-price", "created_at", "-created_at"]


class Money(BaseModel):
    """An amount in the shop's currency."""

    amount: str = Field(pattern=r"^\d+\.\d{2}$", examples=["12.50"])
    currency: Literal["EUR"] = CURRENCY

    @classmethod
    def of_cents(cls, cents: int) -> "Money":
        """Return the money object for an amount in cents."""
        return cls(amount=format_cents(cents), currency=CURRENCY)


class MoneyIn(BaseModel):
    """A price as clients send it: a decimal amount (a string, or a JSON number)."""

    model_config = ConfigDict(extra="forbid")

    amount: Amount
    currency: Literal["EUR"] = CURRENCY

    def cents(self) -> int:
        """Return the amount in cents."""
        return cents_from_amount(self.amount)


class ProductCreateV2(BaseModel):
    """A new product, optionally with the stock already on hand."""

    model_config = ConfigDict(extra="forbid")

    sku: Sku = Field(examples=["MUG-0042"])
    name: ProductName = Field(examples=["Stoneware mug"])
    description: Description = ""
    category: Category = Field(examples=["Kitchen"])
    price: MoneyIn
    stock_on_hand: StockUnits = 0

    def values(self) -> dict[str, object]:
        """Return the product's column values."""
        values = self.model_dump(exclude={"price"})
        values["price_cents"] = self.price.cents()
        return values


class ProductUpdateV2(BaseModel):
    """Changes to a product; fields left out (or null) stay as they are."""

    model_config = ConfigDict(extra="forbid")

    name: ProductName | None = None
    description: Description | None = None
    category: Category | None = None
    price: MoneyIn | None = None

    def changes(self) -> dict[str, object]:
        """Return the changed column values."""
        changes = self.model_dump(exclude={"price"}, exclude_none=True)
        if self.price is not None:
            changes["price_cents"] = self.price.cents()
        return changes


class ProductOutV2(BaseModel):
    """A product, priced with a money object."""

    id: uuid.UUID
    sku: str
    name: str
    description: str
    category: str
    price: Money
    stock: StockStatus
    version: int
    created_at: datetime.datetime
    updated_at: datetime.datetime
    deleted_at: datetime.datetime | None

    @classmethod
    def of(cls, product: Product) -> "ProductOutV2":
        """Return the body showing ``product``."""
        return cls(
            id=product.id,
            sku=product.sku,
            name=product.name,
            description=product.description,
            category=product.category,
            price=Money.of_cents(product.price_cents),
            stock=stock_status(product),
            version=product.version,
            created_at=product.created_at,
            updated_at=product.updated_at,
            deleted_at=product.deleted_at,
        )
