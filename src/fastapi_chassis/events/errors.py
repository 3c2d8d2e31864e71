"""The exceptions raised by the events package.

They all derive from :class:`EventError`, itself a
:class:`~fastapi_chassis.errors.ChassisError`, so ``except EventError`` catches every
failure that concerns domain events and nothing else.
"""

from __future__ import annotations

from fastapi_chassis.errors import ChassisError

__all__ = [
    "DuplicateEventType",
    "EventError",
    "EventValidationError",
    "InvalidEventDefinition",
    "UnknownEventType",
]


class EventError(ChassisError):
    """Base class of the errors raised by :mod:`fastapi_chassis.events`."""


class InvalidEventDefinition(EventError, TypeError):
    """A :class:`~fastapi_chassis.events.DomainEvent` subclass breaks the naming rules.

    Raised when the class is created, so a misnamed event type or a malformed
    schema version never reaches the outbox.
    """


class EventValidationError(EventError, ValueError):
    """An event does not match its schema; nothing was stored.

    Attributes:
        event_type: The event's type.
        schema_version: The event's schema version.
        errors: One line per problem, as pydantic reported it.
    """

    def __init__(self, event_type: str, schema_version: str, errors: list[str]) -> None:
        details = "; ".join(errors)
        super().__init__(f"{event_type} {schema_version} does not match its schema: {details}")
        self.event_type = event_type
        self.schema_version = schema_version
        self.errors = errors


class UnknownEventType(EventError, LookupError):
    """The event type (or this version of it) is not in the registry."""


class DuplicateEventType(EventError, ValueError):
    """Two different classes claim the same event type and schema version."""
