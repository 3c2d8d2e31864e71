"""The UUIDv7 primary key mixin."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import event, text
from sqlalchemy.orm import Mapped, mapped_column

from fastapi_chassis.db.columns import ColumnRole, role_info
from fastapi_chassis.db.uuid7 import uuid7

__all__ = ["UUID7_SQL_FUNCTION", "UUIDv7PrimaryKeyMixin"]

UUID7_SQL_FUNCTION = "public.chassis_uuid7"
"""The SQL function that makes v7 ids on the server (installed with the tables)."""


class UUIDv7PrimaryKeyMixin:
    """A ``uuid`` primary key holding a time-ordered version 7 UUID.

    The id is assigned when the object is constructed, so it can be used before
    any flush (to build an event, a URL, a child row). Rows inserted with raw SQL
    get one from the server function ``chassis_uuid7()``.

    Example:
        >>> class Order(UUIDv7PrimaryKeyMixin, Base):
        ...     __tablename__ = "orders_example"
        >>> Order().id.version
        7
    """

    id: Mapped[UUID] = mapped_column(
        primary_key=True,
        default=uuid7,
        server_default=text(f"{UUID7_SQL_FUNCTION}()"),
        sort_order=-100,
        info=role_info(ColumnRole.UUID7_PRIMARY_KEY),
    )
    """The primary key: a UUIDv7, assigned at construction."""


@event.listens_for(UUIDv7PrimaryKeyMixin, "init", propagate=True)
def _assign_id(
    _target: UUIDv7PrimaryKeyMixin, _args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    # The constructor applies ``kwargs`` after this event, and attributes cannot be
    # set yet when the mappers are not configured: add the id as an argument.
    if kwargs.get("id") is None:
        kwargs["id"] = uuid7()
