"""Customer bodies."""

import datetime
import uuid
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from shop.api.v1.schemas.common import TEXT
from shop.models import Customer

Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, max_length=320, pattern=r"^[^@\s\x00]+@[^@\s\x00]+\.[^@\s\x00]+$"
    ),
    # Stored in lower case: the unique index compares live emails exactly.
    AfterValidator(str.lower),
]
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=TEXT)
]
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
Address = Annotated[str, StringConstraints(max_length=1000, pattern=TEXT)]


class CustomerCreate(BaseModel):
    """A new customer."""

    model_config = ConfigDict(extra="forbid")

    email: Email = Field(examples=["ada.lovelace@example.com"])
    first_name: Name = Field(examples=["Ada"])
    last_name: Name = Field(examples=["Lovelace"])
    country_code: CountryCode = Field(examples=["GB"])
    address: Address = ""


class CustomerUpdate(BaseModel):
    """Changes to a customer; fields left out (or null) stay as they are."""

    model_config = ConfigDict(extra="forbid")

    email: Email | None = None
    first_name: Name | None = None
    last_name: Name | None = None
    country_code: CountryCode | None = None
    address: Address | None = None


class CustomerOut(BaseModel):
    """A customer."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    first_name: str
    last_name: str
    country_code: str
    address: str
    version: int
    created_at: datetime.datetime
    updated_at: datetime.datetime
    deleted_at: datetime.datetime | None

    @classmethod
    def of(cls, customer: Customer) -> "CustomerOut":
        """Return the body showing ``customer``."""
        return cls.model_validate(customer)
