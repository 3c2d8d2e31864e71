"""Events about the catalogue (aggregate type ``shop.product``, keyed by the product id)."""

from typing import ClassVar

from fastapi_chassis.events import DomainEvent
from pydantic import Field


class ProductPriceChanged(DomainEvent):
    """A product's list price changed (orders already placed keep their prices)."""

    event_type: ClassVar[str] = "shop.product.price_changed"
    schema_version: ClassVar[str] = "1.0"

    old_price_cents: int = Field(ge=0, examples=[1999])
    new_price_cents: int = Field(ge=0, examples=[1499])
    currency: str = Field(pattern=r"^[A-Z]{3}$", examples=["EUR"])
