"""The creation and modification timestamp mixin."""

from __future__ import annotations

import datetime

from sqlalchemy import FetchedValue, func
from sqlalchemy.orm import Mapped, mapped_column

from fastapi_chassis.db.columns import ColumnRole, role_info

__all__ = ["TimestampMixin"]


class TimestampMixin:
    """``created_at`` and ``updated_at`` columns maintained by PostgreSQL.

    Both are ``timestamptz`` set by the server, so they agree whatever wrote the
    row. A trigger moves ``updated_at`` on every UPDATE that changes the row,
    from the ORM or from raw SQL; an UPDATE that changes nothing leaves it as it
    was. Both columns come back with the INSERT or UPDATE (``RETURNING``), so async
    code reads them after a flush without a lazy load.

    ``now()`` is the start of the transaction: rows written in one transaction
    share a timestamp, and inside a test that rolls back, time stands still.
    """

    created_at: Mapped[datetime.datetime] = mapped_column(
        server_default=func.now(),
        sort_order=100,
        info=role_info(ColumnRole.CREATED_AT),
    )
    """When the row was inserted (transaction start time)."""

    updated_at: Mapped[datetime.datetime] = mapped_column(
        server_default=func.now(),
        server_onupdate=FetchedValue(),
        sort_order=101,
        info=role_info(ColumnRole.UPDATED_AT),
    )
    """When the row last changed (transaction start time)."""
