"""Soft delete: rows are marked deleted and disappear from every ORM read.

Filtering is a ``do_orm_execute`` listener on SQLAlchemy's :class:`~sqlalchemy.orm.Session`
class, installed when this module is imported. It adds ``deleted_at IS NULL`` for
every soft-deletable entity to every ORM ``SELECT``: plain selects,
``session.get``, lazy, ``selectin`` and joined relationship loads, and the
``EXISTS`` subqueries that ``has()`` and ``any()`` build. Because it listens on the
class, it works in any session, whatever made it.

Two execution options change it for one statement:

* ``include_deleted=True`` shows live and deleted rows;
* ``only_deleted=True`` shows only deleted rows of the soft-deletable entities
  the statement selects or joins (a trash view). Relationships eager-joined into
  that statement are not filtered; those loaded by later statements (lazy,
  ``selectin``) show live rows as usual.

Limitations:

* Core statements on ``Table`` objects and ``text()`` SQL are not filtered.
* ``session.get`` returns an object that is already in the session's identity map
  without asking the database: an object soft-deleted inside the same session
  stays visible to ``get`` until the session ends (or it is expunged).
* A many-to-many ``secondary`` table is a join, not an entity: a soft-delete
  column on the association table itself is not filtered. Map the association
  as a class with :class:`SoftDeleteMixin` when links can be soft-deleted.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    Computed,
    Engine,
    FetchedValue,
    Index,
    Table,
    event,
    func,
    text,
)
from sqlalchemy.orm import Mapped, ORMExecuteState, Session, mapped_column, with_loader_criteria
from sqlalchemy.sql.elements import conv

from fastapi_chassis.db.columns import ColumnRole, column_with_role, role_info
from fastapi_chassis.db.errors import RestoreConflict, sqlstate

if TYPE_CHECKING:
    from sqlalchemy.engine import ExceptionContext
    from sqlalchemy.sql.schema import SchemaItem

__all__ = ["SoftDeleteMixin", "soft_unique_index"]


class SoftDeleteMixin:
    """``deleted_at`` and ``is_deleted`` columns, and automatic filtering of deleted rows.

    ``is_deleted`` is a stored generated column (``deleted_at IS NOT NULL``), so it
    can be indexed and read by tools that do not know the convention.

    Example:
        >>> product.soft_delete()   # flushed with the session
        >>> await session.commit()
        >>> await session.get(Product, product.id)  # in a new session: None
    """

    deleted_at: Mapped[datetime.datetime | None] = mapped_column(
        default=None,
        # soft_delete() sets it to now(): fetch it back with the UPDATE (RETURNING).
        server_onupdate=FetchedValue(),
        sort_order=103,
        info=role_info(ColumnRole.DELETED_AT),
    )
    """When the row was soft-deleted; ``NULL`` while it is live."""

    is_deleted: Mapped[bool] = mapped_column(
        Computed("deleted_at IS NOT NULL", persisted=True),
        sort_order=104,
        info=role_info(ColumnRole.IS_DELETED),
    )
    """Whether the row is soft-deleted (generated from ``deleted_at``)."""

    def soft_delete(self) -> None:
        """Mark the row deleted; the session writes it at the next flush.

        Deleting a row that is already deleted keeps its original ``deleted_at``.
        """
        if self.deleted_at is None:
            self.deleted_at = func.now()

    def restore(self) -> None:
        """Mark the row live again; the session writes it at the next flush.

        When a live row has taken the row's unique key meanwhile, the flush raises
        :class:`~fastapi_chassis.db.RestoreConflict`.
        """
        self.deleted_at = None


def soft_unique_index(*columns: str, name: str | None = None, **kwargs: Any) -> Index:
    """Return a unique index that only covers live rows (``WHERE deleted_at IS NULL``).

    A plain unique constraint would stop a new row from reusing the key of a
    deleted one; this partial index only compares live rows.

    Args:
        *columns: Names of the columns that must be unique among live rows.
        name: The index name; by default ``uq_<table>_<columns>_live``.
        **kwargs: Passed to :class:`sqlalchemy.Index`.

    Example:
        >>> class Product(SoftDeleteMixin, UUIDv7PrimaryKeyMixin, Base):
        ...     __tablename__ = "products"
        ...     __table_args__ = (soft_unique_index("sku"),)
        ...     sku: Mapped[str]
    """
    if not columns:
        raise ValueError("soft_unique_index needs at least one column")
    index = Index(
        name,
        *columns,
        unique=True,
        postgresql_where=text("deleted_at IS NULL"),
        info={"chassis_soft_unique": True},
        **kwargs,
    )
    if name is None:
        event.listen(index, "after_parent_attach", _name_live_index)
    return index


def _name_live_index(index: SchemaItem, table: SchemaItem) -> None:
    assert isinstance(index, Index)  # noqa: S101 - listener registered for indexes only
    assert isinstance(table, Table)  # noqa: S101
    # Registered only for indexes created without a name; it runs after the
    # metadata's naming convention, whose "ix_" name would hide that it is unique.
    column_names = "_".join(
        getattr(expression, "name", None) or str(expression) for expression in index.expressions
    )
    index.name = conv(f"uq_{table.name}_{column_names}_live"[:63])


def _live_rows(cls: type[SoftDeleteMixin]) -> ColumnElement[bool]:
    return cls.deleted_at.is_(None)


def _deleted_rows(cls: type[SoftDeleteMixin]) -> ColumnElement[bool]:
    return cls.deleted_at.is_not(None)


@event.listens_for(Session, "do_orm_execute")
def _hide_soft_deleted(state: ORMExecuteState) -> None:
    # Column loads refresh objects already in the session: filtering them would
    # turn a refresh of a just-deleted object into ObjectDeletedError.
    if not state.is_select or state.is_column_load:
        return
    options = state.execution_options
    if options.get("include_deleted", False):
        return
    if options.get("only_deleted", False):
        # The trash view restricts this statement's own entities; relationships
        # loaded by later statements must show live rows, so nothing propagates.
        criteria, propagate = _deleted_rows, False
    else:
        # Propagation is what reaches joined eager loads; lazy and selectin loads
        # pass through this listener again anyway.
        criteria, propagate = _live_rows, True
    state.statement = state.statement.options(
        with_loader_criteria(
            SoftDeleteMixin,
            criteria,
            include_aliases=True,
            propagate_to_loaders=propagate,
        )
    )


_UNIQUE_VIOLATION = "23505"


@event.listens_for(Engine, "handle_error")
def _report_restore_conflict(context: ExceptionContext) -> None:
    """Turn a unique violation raised by restoring a row into :class:`RestoreConflict`.

    A restore is an UPDATE that sets ``deleted_at`` to NULL; if it trips a unique
    index, a live row has taken the restored row's key while it was deleted.
    """
    execution = context.execution_context
    if execution is None or not execution.isupdate or execution.compiled is None:
        return
    cause = context.original_exception
    if sqlstate(cause) != _UNIQUE_VIOLATION:
        return
    statement = execution.compiled.statement
    table = getattr(statement, "table", None)
    if not isinstance(table, Table):
        return
    deleted_at = column_with_role(table, ColumnRole.DELETED_AT)
    if deleted_at is None:
        return
    missing = object()
    parameters: list[dict[str, object]] = getattr(execution, "compiled_parameters", [])
    if not any(params.get(deleted_at.key, missing) is None for params in parameters):
        return
    details = getattr(cause, "__cause__", None)
    raise RestoreConflict(
        table.name,
        getattr(details, "constraint_name", None),
        getattr(details, "detail", None),
    ) from context.sqlalchemy_exception
