"""``DomainEvent``: the base class of every event an application records.

An event class is a pydantic model whose fields are the event's payload, with
two class-level attributes that say what it is::

    class OrderPlaced(DomainEvent):
        \"\"\"A customer placed an order.\"\"\"

        event_type: ClassVar[str] = "shop.order.placed"
        schema_version: ClassVar[str] = "1.0"

        total_cents: int

    event = OrderPlaced(aggregate_id=order.id, total_cents=1200)

The type and version are checked when the class is created (see
:mod:`fastapi_chassis.events.naming`), so a misnamed event fails at import time,
not in production. Classes without an ``event_type`` are abstract: use them as
shared bases. Instances are immutable.

Besides the payload, every instance carries three envelope fields, which travel
as CloudEvents attributes rather than in ``data``: ``aggregate_id`` (the
``subject``), ``event_id`` (the ``id``, a UUIDv7 made at construction) and
``occurred_at`` (the ``time``, timezone-aware, now by default).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any, ClassVar, Self
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from typing_extensions import override

from fastapi_chassis.db.uuid7 import uuid7
from fastapi_chassis.events.errors import InvalidEventDefinition
from fastapi_chassis.events.naming import aggregate_type_of, check_event_type, parse_schema_version

__all__ = ["ENVELOPE_FIELDS", "JSON_SCHEMA_DIALECT", "DomainEvent", "data_schema"]

ENVELOPE_FIELDS: tuple[str, ...] = ("aggregate_id", "event_id", "occurred_at")
"""Fields every event has that travel as envelope attributes, not in ``data``."""

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
"""The ``$schema`` of every exported event schema."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


class DomainEvent(BaseModel):
    """Something that happened to an aggregate, recorded in the outbox and published.

    Subclasses set :attr:`event_type` and :attr:`schema_version` as ``ClassVar``
    and declare the payload as ordinary pydantic fields. Pydantic's ``extra``
    setting decides whether the exported schema allows properties it does not
    list (``"ignore"``, the default, and ``"allow"`` do; ``"forbid"`` does not),
    which the compatibility check takes into account.

    Attributes:
        event_type: ``<context>.<aggregate>.<past-tense verb>``; set by subclasses.
        schema_version: ``"<major>.<minor>"``; ``"1.0"`` unless a subclass says otherwise.
        aggregate_id: The aggregate the event is about (the CloudEvents ``subject``
            and the message key).
        event_id: The event's unique id (CloudEvents ``id``), a UUIDv7.
        occurred_at: When it happened (CloudEvents ``time``).

    Example:
        >>> class InvoicePaid(DomainEvent):
        ...     event_type: ClassVar[str] = "billing.invoice.paid"
        ...     amount_cents: int
        >>> InvoicePaid(aggregate_id=uuid7(), amount_cents=500).aggregate_type()
        'billing.invoice'
    """

    model_config = ConfigDict(frozen=True)

    event_type: ClassVar[str]
    schema_version: ClassVar[str] = "1.0"

    aggregate_id: UUID
    event_id: UUID = Field(default_factory=uuid7)
    occurred_at: AwareDatetime = Field(default_factory=_utc_now)

    @classmethod
    @override
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        for name in ("event_type", "schema_version"):
            if name in cls.model_fields:
                raise InvalidEventDefinition(
                    f"{cls.__qualname__}.{name} must be declared as ClassVar[str], not as a field"
                )
        if not cls.is_concrete():
            return
        try:
            check_event_type(cls.event_type)
            parse_schema_version(cls.schema_version)
        except ValueError as error:
            raise InvalidEventDefinition(f"{cls.__qualname__}: {error}") from None

    @classmethod
    def is_concrete(cls) -> bool:
        """Return whether the class names an event type (abstract bases do not)."""
        return isinstance(getattr(cls, "event_type", None), str)

    @classmethod
    def aggregate_type(cls) -> str:
        """Return the aggregate type: the first two parts of :attr:`event_type`."""
        return aggregate_type_of(cls.event_type)

    @classmethod
    def data_schema(cls) -> dict[str, Any]:
        """Return the JSON Schema (draft 2020-12) of the event's ``data``.

        The schema describes the payload fields only: the envelope fields travel
        as CloudEvents attributes. A fresh copy is returned on each call.
        """
        return copy.deepcopy(data_schema(cls))

    def data(self) -> dict[str, Any]:
        """Return the payload as JSON-compatible values (the CloudEvents ``data``)."""
        return self.model_dump(mode="json", exclude=set(ENVELOPE_FIELDS))

    @classmethod
    def from_cloudevent(cls, envelope: Mapping[str, Any]) -> Self:
        """Rebuild an event from its CloudEvents envelope (what consumers receive).

        Args:
            envelope: A structured-mode CloudEvents 1.0 JSON object, parsed.

        Returns:
            The event, validated.

        Raises:
            pydantic.ValidationError: If the envelope's data does not match.
            ValueError: If the envelope is of another event type.
        """
        if envelope.get("type") != cls.event_type:
            raise ValueError(f"envelope of type {envelope.get('type')!r}, not {cls.event_type!r}")
        data = envelope.get("data") or {}
        return cls.model_validate(
            {
                **data,
                "aggregate_id": envelope["subject"],
                "event_id": envelope["id"],
                "occurred_at": envelope["time"],
            }
        )


@cache
def data_schema(event_class: type[DomainEvent]) -> dict[str, Any]:
    """Return the (cached, shared) data schema of ``event_class``; do not modify it.

    :meth:`DomainEvent.data_schema` returns a copy that callers may change.
    """
    schema = event_class.model_json_schema(mode="validation")
    properties: dict[str, Any] = schema.get("properties", {})
    for name in ENVELOPE_FIELDS:
        properties.pop(name, None)
    required = [name for name in schema.get("required", []) if name not in ENVELOPE_FIELDS]
    if required:
        schema["required"] = required
    else:
        schema.pop("required", None)
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "x-event-type": event_class.event_type,
        "x-schema-version": event_class.schema_version,
        **schema,
    }
