"""The optimistic-locking version mixin."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from fastapi_chassis.db.columns import ColumnRole, role_info

__all__ = ["VersionMixin"]


class VersionMixin:
    """An integer ``version`` used for optimistic locking.

    The column is SQLAlchemy's ``version_id_col``, and the server owns it: rows
    start at 1 and a trigger adds one on every UPDATE that changes the row, from
    the ORM or from raw SQL, so edits made outside the application also
    invalidate clients' ETags. An UPDATE that changes nothing keeps the version.

    An ORM flush checks the version it read (``WHERE version = :read``) and raises
    SQLAlchemy's ``StaleDataError`` when another writer got there first;
    :meth:`fastapi_chassis.db.AsyncRepository.update` does the same check in one
    statement and raises :class:`~fastapi_chassis.db.ConcurrencyConflict`.
    """

    version: Mapped[int] = mapped_column(
        server_default=text("1"),
        sort_order=102,
        info=role_info(ColumnRole.VERSION),
    )
    """The row's version: 1 on insert, one more on every change."""

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:  # noqa: N805 - declarative directive
        table = cls.__table__  # type: ignore[attr-defined]
        return {"version_id_col": table.c.version, "version_id_generator": False}
