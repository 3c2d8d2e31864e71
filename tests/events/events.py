"""Event classes the events tests record and publish."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from fastapi_chassis.events import DomainEvent


class OrderPlaced(DomainEvent):
    """A customer placed an order.

    Sent once the order and its lines are stored.
    """

    event_type: ClassVar[str] = "shop.order.placed"
    schema_version: ClassVar[str] = "1.0"

    total_cents: int = Field(ge=0)
    currency: str = "EUR"


class OrderCancelled(DomainEvent):
    """An order was cancelled before shipping."""

    event_type: ClassVar[str] = "shop.order.cancelled"

    reason: str


class PaymentCaptured(DomainEvent):
    """The payment of an order was captured."""

    event_type: ClassVar[str] = "billing.payment.captured"

    amount_cents: int


ALL_EVENTS = (OrderPlaced, OrderCancelled, PaymentCaptured)
