"""The declarative base every chassis model derives from.

:class:`Base` adds three things to SQLAlchemy's ``DeclarativeBase``:

* a constraint naming convention, so constraint names are deterministic and
  Alembic diffs stay stable;
* a type map for PostgreSQL (native ``uuid``, ``timestamptz``, ``jsonb``);
* the server-side SQL its mixins need (the v7 id function, ``updated_at`` and
  version triggers), installed by ``metadata.create_all()``;
* merging of ``__mapper_args__`` and ``__table_args__`` across mixins. Plain
  Python attribute lookup takes the first definition along the MRO, so two
  mixins that each set mapper arguments would silently lose one of them; here
  every unmapped class in the MRO contributes, and the model's own definition
  wins where keys collide.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator
from typing import Any, ClassVar

from sqlalchemy import DateTime, MetaData, Table, Uuid, inspect
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, declared_attr
from typing_extensions import override

from fastapi_chassis.db.server_objects import install_on_create

__all__ = ["NAMING_CONVENTION", "Base"]

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Constraint names by kind; ``ck`` constraints need an explicit ``name``."""

_MERGED = ("__mapper_args__", "__table_args__")


class Base(DeclarativeBase):
    """Declarative base with a naming convention, a PostgreSQL type map and mixin merging.

    Example:
        >>> from sqlalchemy.orm import Mapped
        >>> from fastapi_chassis.db import Base, UUIDv7PrimaryKeyMixin
        >>> class Customer(UUIDv7PrimaryKeyMixin, Base):
        ...     __tablename__ = "customers_example"
        ...     email: Mapped[str]
    """

    __abstract__ = True

    metadata = MetaData(naming_convention=NAMING_CONVENTION)

    type_annotation_map: ClassVar[dict[Any, Any]] = {
        uuid.UUID: Uuid(as_uuid=True),
        datetime.datetime: DateTime(timezone=True),
        dict[str, Any]: JSONB(),
        list[Any]: JSONB(),
    }

    # Server-set columns (timestamps, versions, defaults) are fetched with
    # RETURNING on flush, so async code never needs a lazy load to read them.
    __mapper_args__: Any = {"eager_defaults": True}  # noqa: RUF012 - SQLAlchemy's own typing

    @override
    def __init_subclass__(cls, **kwargs: Any) -> None:
        for name in _MERGED:
            contributions = list(_contributions(cls, name))
            if len(contributions) > 1:
                setattr(cls, name, _merged_attribute(name, contributions))
        super().__init_subclass__(**kwargs)
        table = cls.__dict__.get("__table__")
        if isinstance(table, Table):
            install_on_create(table)


def _contributions(cls: type, name: str) -> Iterator[object]:
    """Yield every definition of ``name`` that applies to ``cls``, base-most first.

    Classes that a mapped superclass already has in its MRO are skipped: their
    arguments were applied to that superclass, and SQLAlchemy's inheritance carries
    them on (re-evaluating them against a subclass's own table would be wrong).
    """
    inherited: set[type] = set()
    for klass in cls.__mro__[1:]:
        if inspect(klass, raiseerr=False) is not None:
            inherited.update(klass.__mro__)
    for klass in reversed(cls.__mro__):
        if klass in inherited or klass is DeclarativeBase or name not in klass.__dict__:
            continue
        yield klass.__dict__[name]


def _evaluate(contribution: object, cls: type) -> object:
    # declared_attr and declared_attr.directive both keep the function as ``fget``.
    function = getattr(contribution, "fget", None)
    if callable(function):
        return function(cls)
    if isinstance(contribution, classmethod):
        return contribution.__func__(cls)
    return contribution


def _merged_attribute(name: str, contributions: list[object]) -> object:
    merge = _merge_mapper_args if name == "__mapper_args__" else _merge_table_args

    def evaluate(cls: type) -> object:
        return merge([_evaluate(contribution, cls) for contribution in contributions])

    evaluate.__name__ = name
    return declared_attr.directive(evaluate)


def _merge_mapper_args(values: list[object]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for value in values:
        if value is None:
            continue
        if not isinstance(value, dict):
            raise TypeError(f"__mapper_args__ must be a dict, not {type(value).__name__}")
        merged.update(value)
    return merged


def _merge_table_args(values: list[object]) -> tuple[Any, ...] | None:
    positional: list[Any] = []
    keywords: dict[str, Any] = {}
    for value in values:
        if value is None:
            continue
        if isinstance(value, dict):
            _merge_table_keywords(keywords, value)
        elif isinstance(value, tuple):
            if value and isinstance(value[-1], dict):
                positional.extend(value[:-1])
                _merge_table_keywords(keywords, value[-1])
            else:
                positional.extend(value)
        else:
            raise TypeError(f"__table_args__ must be a tuple or a dict, not {type(value).__name__}")
    if not positional and not keywords:
        return None
    return (*positional, keywords)


def _merge_table_keywords(into: dict[str, Any], new: dict[str, Any]) -> None:
    for key, value in new.items():
        if key == "info" and isinstance(into.get(key), dict):
            into[key] = {**into[key], **value}
        else:
            into[key] = value
