"""The ``AuditMixin``: a model whose table is audited by database triggers."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, ClassVar

from sqlalchemy import Column, Table, event
from sqlalchemy.orm import ColumnProperty, Mapper

from fastapi_chassis.db.audit.tables import audit_options, enable_audit

__all__ = ["AuditMixin"]


class AuditMixin:
    """Record every change to the model's table in ``audit.log``.

    Triggers on the table write the audit rows, so changes made through the ORM,
    Core statements and raw SQL are all recorded, with the actor and correlation id
    of the request that made them. Columns whose values must never be stored
    (password hashes, tokens) are listed in ``__audit_exclude__``, by attribute or
    column name: they are left out of the row images and of the changed columns,
    and a change to them alone records nothing.

    The mark is kept in the table's ``Table.info``, so ``create_all()``,
    :func:`~fastapi_chassis.db.audit.install_audit` and the Alembic entities find
    audited tables from the metadata alone.

    Example:
        >>> class User(UUIDv7PrimaryKeyMixin, TimestampMixin, AuditMixin, Base):
        ...     __tablename__ = "users"
        ...     __audit_exclude__ = {"password_hash"}
        ...     email: Mapped[str]
        ...     password_hash: Mapped[str]
    """

    __audit_exclude__: ClassVar[Collection[str]] = frozenset()
    """Attribute or column names kept out of the audit log."""


@event.listens_for(AuditMixin, "after_mapper_constructed", propagate=True)
def _audit_mapped_table(mapper: Mapper[Any], cls: type[Any]) -> None:
    table = mapper.local_table
    if not isinstance(table, Table):
        return
    names: Collection[str] = getattr(cls, "__audit_exclude__", ())
    if isinstance(names, str):
        raise TypeError(f"{cls.__name__}.__audit_exclude__ must be a collection of names")
    excluded = {_column_name(mapper, table, name) for name in names}
    # A single-table subclass adds to the exclusions of the table it shares.
    inherited = audit_options(table)
    if inherited is not None:
        excluded |= inherited.exclude
    enable_audit(table, exclude=excluded)


def _column_name(mapper: Mapper[Any], table: Table, name: str) -> str:
    if name in table.c:
        return table.c[name].name
    prop = mapper.get_property(name) if mapper.has_property(name) else None
    if isinstance(prop, ColumnProperty):
        columns = [column for column in prop.columns if isinstance(column, Column)]
        if len(columns) == 1 and columns[0].table is table:
            return columns[0].name
    raise ValueError(
        f"{mapper.class_.__name__}.__audit_exclude__ names {name!r}, "
        f"which is not a column of {table.fullname}"
    )
