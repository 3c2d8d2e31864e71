"""Events about orders (aggregate type ``shop.order``, keyed by the order id)."""

from typing import ClassVar
from uuid import UUID

from fastapi_chassis.events import DomainEvent
from pydantic import BaseModel, Field


class OrderLine(BaseModel):
    """One product in an order, at the price it was sold for."""

    product_id: UUID
    quantity: int = Field(ge=1, examples=[2])
    unit_price_cents: int = Field(ge=0, examples=[1250])


class OrderPlaced(DomainEvent):
    """A customer placed an order; its stock is reserved."""

    event_type: ClassVar[str] = "shop.order.placed"
    schema_version: ClassVar[str] = "1.0"

    customer_id: UUID
    total_cents: int = Field(ge=0, examples=[2500])
    currency: str = Field(pattern=r"^[A-Z]{3}$", examples=["EUR"])
    lines: list[OrderLine] = Field(min_length=1)


class OrderPaid(DomainEvent):
    """An order was paid."""

    event_type: ClassVar[str] = "shop.order.paid"
    schema_version: ClassVar[str] = "1.0"

    total_cents: int = Field(ge=0, examples=[2500])


class OrderShipped(DomainEvent):
    """An order left the warehouse."""

    event_type: ClassVar[str] = "shop.order.shipped"
    schema_version: ClassVar[str] = "1.0"


class OrderCancelled(DomainEvent):
    """An order was cancelled before it shipped; its reserved stock is available again."""

    event_type: ClassVar[str] = "shop.order.cancelled"
    schema_version: ClassVar[str] = "1.0"

    previous_status: str = Field(examples=["placed"])
    reason: str | None = Field(default=None, max_length=500)
