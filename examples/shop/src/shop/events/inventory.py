"""Events about stock (aggregate type ``shop.inventory``, keyed by the product id)."""

from typing import ClassVar

from fastapi_chassis.events import DomainEvent
from pydantic import Field


class InventoryAdjusted(DomainEvent):
    """A product's stock on hand changed: goods received, a stocktake, a shipment."""

    event_type: ClassVar[str] = "shop.inventory.adjusted"
    schema_version: ClassVar[str] = "1.0"

    delta: int = Field(examples=[-2])
    on_hand: int = Field(ge=0, examples=[48])
    """Units on hand after the change."""
    reason: str = Field(max_length=200, examples=["received"])
