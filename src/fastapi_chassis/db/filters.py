"""Typed filters for :meth:`AsyncRepository.list <fastapi_chassis.db.AsyncRepository.list>`.

A filter is a keyword argument: the column name, optionally followed by ``__``
and an operator. Values are validated (and, where unambiguous, converted: query
strings arrive as text) against the column's Python type, and always reach the
database as bound parameters.

| Operator | Meaning | Example |
| --- | --- | --- |
| (none) | equal | `status="paid"` |
| `ne` | not equal | `status__ne="cancelled"` |
| `lt`, `le`, `gt`, `ge` | less than, at most, greater than, at least | `price__ge=1000` |
| `in` | one of a list | `status__in=["paid", "shipped"]` |
| `not_in` | none of a list | `status__not_in=["cancelled"]` |
| `isnull` | is NULL (`True`) or is not NULL (`False`) | `shipped_at__isnull=True` |
| `contains` | case-insensitive substring (text columns) | `name__contains="mug"` |
| `startswith` | case-insensitive prefix (text columns) | `sku__startswith="MUG-"` |

`%` and `_` in `contains` and `startswith` values match literally.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import ColumnElement
from sqlalchemy.orm import InstrumentedAttribute, Mapper

from fastapi_chassis.db.errors import InvalidQuery

__all__ = ["OPERATORS", "build_filters", "column_attribute", "validate_value"]

_Comparison = Callable[[InstrumentedAttribute[Any], Any], ColumnElement[bool]]


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


OPERATORS: dict[str, _Comparison] = {
    "eq": lambda column, value: column == value,
    "ne": lambda column, value: column != value,
    "lt": lambda column, value: column < value,
    "le": lambda column, value: column <= value,
    "gt": lambda column, value: column > value,
    "ge": lambda column, value: column >= value,
    "in": lambda column, value: column.in_(value),
    "not_in": lambda column, value: column.not_in(value),
    "isnull": lambda column, value: column.is_(None) if value else column.is_not(None),
    "contains": lambda column, value: column.ilike(f"%{_escape_like(value)}%", escape="\\"),
    "startswith": lambda column, value: column.ilike(f"{_escape_like(value)}%", escape="\\"),
}
"""Every filter operator, by name."""

_TEXT_OPERATORS = frozenset({"contains", "startswith"})
_LIST_OPERATORS = frozenset({"in", "not_in"})


def column_attribute(mapper: Mapper[Any], name: str) -> InstrumentedAttribute[Any]:
    """Return the mapped column attribute ``name`` of ``mapper``'s class.

    Raises:
        InvalidQuery: If the model has no such column.
    """
    if name not in mapper.column_attrs:
        known = ", ".join(sorted(mapper.column_attrs.keys()))
        raise InvalidQuery(f"{mapper.class_.__name__} has no field {name!r} (fields: {known})")
    attribute: InstrumentedAttribute[Any] = getattr(mapper.class_, name)
    return attribute


_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {}


def _adapter(python_type: type[Any]) -> TypeAdapter[Any]:
    adapter = _ADAPTERS.get(python_type)
    if adapter is None:
        adapter = _ADAPTERS[python_type] = TypeAdapter(python_type)
    return adapter


def _python_type(attribute: InstrumentedAttribute[Any]) -> type[Any] | None:
    try:
        python_type: type[Any] = attribute.type.python_type
    except NotImplementedError:
        return None
    return python_type


def validate_value(attribute: InstrumentedAttribute[Any], value: object, *, label: str) -> Any:
    """Check ``value`` against the column's Python type and return it converted.

    ``None`` passes for nullable columns. Types SQLAlchemy cannot name a Python
    type for are passed through for the database to judge.

    Raises:
        InvalidQuery: If the value does not fit the column.
    """
    if value is None:
        if attribute.nullable:
            return None
        raise InvalidQuery(f"{label}: the field is not nullable")
    python_type = _python_type(attribute)
    if python_type is None:
        return value
    try:
        checked = _adapter(python_type).validate_python(value)
    except ValidationError as error:
        reason = error.errors()[0]["msg"]
        raise InvalidQuery(f"{label}: {reason} (got {value!r})") from None
    _check_storable(attribute, checked, label)
    return checked


# The integer range of each PostgreSQL integer type, by SQLAlchemy type name.
_INTEGER_BITS = {"SmallInteger": 16, "Integer": 32, "BigInteger": 64}


def _check_storable(attribute: InstrumentedAttribute[Any], value: object, label: str) -> None:
    """Refuse values PostgreSQL would reject with a data error, with a clear message."""
    if isinstance(value, str) and "\x00" in value:
        raise InvalidQuery(f"{label}: text cannot contain NUL characters")
    if isinstance(value, int) and not isinstance(value, bool):
        bits = next(
            (
                width
                for kind in type(attribute.type).__mro__
                if (width := _INTEGER_BITS.get(kind.__name__)) is not None
            ),
            None,
        )
        if bits is not None and not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
            raise InvalidQuery(f"{label}: {value} is out of range for a {bits}-bit integer")


def build_filters(mapper: Mapper[Any], filters: Mapping[str, object]) -> list[ColumnElement[bool]]:
    """Turn ``field__operator=value`` keywords into SQL criteria.

    Raises:
        InvalidQuery: For an unknown field or operator, or a value of the wrong type.
    """
    return [_criterion(mapper, key, value) for key, value in filters.items()]


def _criterion(mapper: Mapper[Any], key: str, value: object) -> ColumnElement[bool]:
    name, _, operator = key.partition("__")
    operator = operator or "eq"
    comparison = OPERATORS.get(operator)
    if comparison is None:
        raise InvalidQuery(
            f"filter {key!r}: unknown operator {operator!r} (operators: {', '.join(OPERATORS)})"
        )
    attribute = column_attribute(mapper, name)
    if operator == "isnull":
        if not isinstance(value, bool):
            raise InvalidQuery(f"filter {key!r}: expects True or False, got {value!r}")
        return comparison(attribute, value)
    if operator in _TEXT_OPERATORS:
        if not isinstance(value, str):
            raise InvalidQuery(f"filter {key!r}: expects text, got {value!r}")
        return comparison(attribute, value)
    if operator in _LIST_OPERATORS:
        if isinstance(value, str | bytes) or not isinstance(value, Iterable):
            raise InvalidQuery(f"filter {key!r}: expects a list of values, got {value!r}")
        items = [validate_value(attribute, item, label=f"filter {key!r}") for item in value]
        return comparison(attribute, items)
    if value is None and operator in {"eq", "ne"}:
        return OPERATORS["isnull"](attribute, operator == "eq")
    return comparison(attribute, validate_value(attribute, value, label=f"filter {key!r}"))
