"""Customers: the people who place orders."""

from fastapi_chassis.db import (
    AuditMixin,
    Base,
    SoftDeleteMixin,
    TimestampMixin,
    UUIDv7PrimaryKeyMixin,
    VersionMixin,
    soft_unique_index,
)
from sqlalchemy import CheckConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column


class Customer(
    UUIDv7PrimaryKeyMixin, TimestampMixin, SoftDeleteMixin, VersionMixin, AuditMixin, Base
):
    """A customer account; deleting one keeps its orders and its history."""

    __tablename__ = "customers"
    __table_args__ = (
        # A deleted customer's email can sign up again.
        soft_unique_index("email"),
        CheckConstraint("email = lower(email)", name="email_lower_case"),
        CheckConstraint("country_code ~ '^[A-Z]{2}$'", name="country_code_iso"),
    )

    email: Mapped[str] = mapped_column(String(320))
    """Lower case, unique among live customers."""
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    country_code: Mapped[str] = mapped_column(String(2))
    """ISO 3166-1 alpha-2, upper case."""
    address: Mapped[str] = mapped_column(Text, default="", server_default="")
    """The shipping address, as lines of text."""
