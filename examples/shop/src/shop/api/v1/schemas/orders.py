"""Order bodies."""

import datetime
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shop.api.v1.schemas.common import TEXT
from shop.models import Order, StockReservation
from shop.money import CURRENCY

OrderSort = Literal["-placed_at", "placed_at", "-total_cents", "total_cents"]


class OrderLineIn(BaseModel):
    """A product and how many units of it."""

    model_config = ConfigDict(extra="forbid")

    product_id: uuid.UUID
    quantity: int = Field(ge=1, le=1000, examples=[2])


class OrderCreate(BaseModel):
    """A new order: who orders what."""

    model_config = ConfigDict(extra="forbid")

    customer_id: uuid.UUID
    lines: list[OrderLineIn] = Field(min_length=1, max_length=50)

    @field_validator("lines")
    @classmethod
    def _products_once(cls, lines: list[OrderLineIn]) -> list[OrderLineIn]:
        products = [line.product_id for line in lines]
        if len(set(products)) != len(products):
            raise ValueError("each product may appear once; add up the quantities")
        return lines

    def quantities(self) -> dict[uuid.UUID, int]:
        """Return the units ordered, by product, in the order the lines were given."""
        return {line.product_id: line.quantity for line in self.lines}


class CancelRequest(BaseModel):
    """Why an order is cancelled."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=500, pattern=TEXT)


class OrderLineOut(BaseModel):
    """One line of an order, at the price it was sold for."""

    model_config = ConfigDict(from_attributes=True)

    line_number: int
    product_id: uuid.UUID
    quantity: int
    unit_price_cents: int
    line_total_cents: int


class OrderOut(BaseModel):
    """An order with its lines."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    customer_id: uuid.UUID
    status: Literal["placed", "paid", "shipped", "cancelled"]
    total_cents: int
    currency: str = CURRENCY
    placed_at: datetime.datetime
    paid_at: datetime.datetime | None
    shipped_at: datetime.datetime | None
    cancelled_at: datetime.datetime | None
    cancel_reason: str | None
    version: int
    lines: list[OrderLineOut] = Field(validation_alias="items")

    @classmethod
    def of(cls, order: Order) -> "OrderOut":
        """Return the body showing ``order``."""
        return cls.model_validate(order)


class ReservationOut(BaseModel):
    """Units of a product held for an order, and what became of them."""

    model_config = ConfigDict(from_attributes=True)

    product_id: uuid.UUID
    quantity: int
    state: Literal["held", "fulfilled", "released"]

    @classmethod
    def of(cls, reservation: StockReservation) -> "ReservationOut":
        """Return the body showing ``reservation``."""
        return cls.model_validate(reservation)
