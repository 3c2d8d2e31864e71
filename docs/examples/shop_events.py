"""Example domain events of a small shop; the documentation's event catalog lists them."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from fastapi_chassis.events import DomainEvent


class OrderLine(BaseModel):
    """One product in an order."""

    product_id: UUID
    quantity: int = Field(ge=1, examples=[2])
    unit_price_cents: int = Field(ge=0, examples=[1250])


class OrderPlaced(DomainEvent):
    """A customer placed an order.

    Recorded in the transaction that stores the order, so it is published once
    the order exists, and only then.
    """

    event_type: ClassVar[str] = "shop.order.placed"
    schema_version: ClassVar[str] = "1.0"

    customer_id: UUID
    total_cents: int = Field(ge=0, examples=[2500])
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")


class OrderPlacedV2(DomainEvent):
    """A customer placed an order, with its lines.

    Version 2 carries the order lines; the total is derived from them.
    """

    event_type: ClassVar[str] = "shop.order.placed"
    schema_version: ClassVar[str] = "2.0"

    customer_id: UUID
    lines: list[OrderLine] = Field(min_length=1)
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")


class OrderCancelled(DomainEvent):
    """An order was cancelled before it shipped."""

    event_type: ClassVar[str] = "shop.order.cancelled"

    reason: str = Field(max_length=500, examples=["The customer changed their mind."])


class PaymentCaptured(DomainEvent):
    """The payment of an order was captured by the payment provider."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "order_id": "01964f4c-8a40-7e55-b0c4-6f1f3a2d8e77",
                    "amount": "25.00",
                    "provider": "stripe",
                }
            ]
        }
    )

    event_type: ClassVar[str] = "billing.payment.captured"

    order_id: UUID
    amount: Decimal
    provider: str


class PriceChanged(DomainEvent):
    """A product's price changed."""

    event_type: ClassVar[str] = "catalog.product.price_changed"

    old_price_cents: int = Field(ge=0)
    new_price_cents: int = Field(ge=0)


EVENTS: list[type[DomainEvent]] = [
    OrderPlaced,
    OrderPlacedV2,
    OrderCancelled,
    PaymentCaptured,
    PriceChanged,
]
"""Every example event class, as an application's ``chassis_event_types`` hook returns them."""
