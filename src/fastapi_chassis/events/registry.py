"""``EventRegistry``: the event types a service produces, their versions and schemas.

The registry is the single list that the catalog, the AsyncAPI document, the
schema snapshots and the compatibility check are built from, and that
:func:`~fastapi_chassis.events.record_event` validates against inside an
application. Applications fill it through the ``chassis_event_types`` plugin hook
(``create_app`` builds one at start-up) or directly::

    registry = EventRegistry([OrderPlaced, OrderCancelled])
    registry.json_schema("shop.order.placed", "1.0")

Validation serializes the event to JSON and validates that JSON with the
registered model, the same model its JSON Schema is generated from, so what is
stored is exactly what the schema describes. It catches what pydantic's
constructor cannot: instances made with ``model_construct()``, values that do
not survive JSON (``NaN`` becomes ``null``), and an event class that is not the
registered one.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from pydantic_core import PydanticSerializationError

from fastapi_chassis.errors import ConfigurationError
from fastapi_chassis.events.compatibility import (
    CompatibilityMode,
    VersionCheck,
    check_version_change,
)
from fastapi_chassis.events.domain_event import ENVELOPE_FIELDS, DomainEvent, data_schema
from fastapi_chassis.events.errors import (
    DuplicateEventType,
    EventValidationError,
    InvalidEventDefinition,
    UnknownEventType,
)
from fastapi_chassis.events.naming import parse_schema_version
from fastapi_chassis.plugins.manager import flatten

if TYPE_CHECKING:
    from fastapi_chassis.plugins.manager import ChassisPluginManager

__all__ = ["EventRegistry", "ValidatedEvent", "validate_event"]


@dataclass(frozen=True, slots=True)
class ValidatedEvent:
    """An event that passed validation, in the JSON form that will be stored.

    Attributes:
        event_class: The model it was validated with.
        fields: Every field in JSON form, envelope fields included.
        data: The payload only (the CloudEvents ``data``).
    """

    event_class: type[DomainEvent]
    fields: dict[str, Any]
    data: dict[str, Any]


def validate_event(
    event: DomainEvent, event_class: type[DomainEvent] | None = None
) -> ValidatedEvent:
    """Validate an event's JSON form against its model.

    Args:
        event: The event.
        event_class: The model to validate with; the event's own class by default.

    Returns:
        The event's canonical JSON form.

    Raises:
        EventValidationError: If the event's values do not match the model.
        InvalidEventDefinition: If the event class is abstract (has no ``event_type``).
    """
    model = event_class or type(event)
    if not model.is_concrete():
        raise InvalidEventDefinition(
            f"{model.__qualname__} has no event_type; only concrete events can be recorded"
        )
    try:
        # Warnings off: a model_construct()ed instance holding wrong types makes the
        # serializer warn, and the validation below reports the problem properly.
        raw = type(event).__pydantic_serializer__.to_json(event, warnings=False)
        validated = model.model_validate_json(raw)
    except ValidationError as error:
        problems = [
            f"{'.'.join(str(part) for part in item['loc']) or '(event)'}: {item['msg']}"
            for item in error.errors(include_url=False)
        ]
        raise EventValidationError(model.event_type, model.schema_version, problems) from None
    except PydanticSerializationError as error:
        raise EventValidationError(model.event_type, model.schema_version, [str(error)]) from None
    # The canonical form of the validated instance is stored, so a value that
    # validation coerced is stored the way the schema describes it.
    fields = validated.model_dump(mode="json")
    data = {name: value for name, value in fields.items() if name not in ENVELOPE_FIELDS}
    return ValidatedEvent(model, fields, data)


class EventRegistry:
    """The registered event types, each with one model per schema version.

    Args:
        events: Event classes to register at once.

    Raises:
        InvalidEventDefinition: If a class is not a concrete ``DomainEvent``.
        DuplicateEventType: If two classes claim the same type and version.

    Example:
        >>> registry = EventRegistry([OrderPlaced])
        >>> registry.versions("shop.order.placed")
        ['1.0']
    """

    def __init__(self, events: Iterable[type[DomainEvent]] = ()) -> None:
        self._events: dict[str, dict[str, type[DomainEvent]]] = {}
        self.register(*events)

    @classmethod
    def from_plugins(cls, plugins: ChassisPluginManager) -> EventRegistry:
        """Build a registry from every ``chassis_event_types`` hook implementation.

        Args:
            plugins: The application's plugin manager.

        Raises:
            ConfigurationError: If a hook returned something other than event classes.
            DuplicateEventType: If two classes claim the same type and version.
        """
        registry = cls()
        for item in flatten(plugins.call("chassis_event_types")):
            if not (isinstance(item, type) and issubclass(item, DomainEvent)):
                raise ConfigurationError(
                    f"chassis_event_types must return DomainEvent subclasses, got {item!r}"
                )
            registry.register(item)
        return registry

    def register(self, *events: type[DomainEvent]) -> None:
        """Register event classes; registering the same class twice is harmless.

        Raises:
            InvalidEventDefinition: If a class is not a concrete ``DomainEvent``.
            DuplicateEventType: If another class has the same type and version.
        """
        for event_class in events:
            candidate: object = event_class
            if not (isinstance(candidate, type) and issubclass(candidate, DomainEvent)):
                raise InvalidEventDefinition(f"{candidate!r} is not a DomainEvent subclass")
            if not event_class.is_concrete():
                raise InvalidEventDefinition(
                    f"{event_class.__qualname__} has no event_type and cannot be registered"
                )
            versions = self._events.setdefault(event_class.event_type, {})
            existing = versions.get(event_class.schema_version)
            if existing is not None and existing is not event_class:
                raise DuplicateEventType(
                    f"{event_class.event_type} {event_class.schema_version} is defined by both "
                    f"{_qualified(existing)} and {_qualified(event_class)}"
                )
            versions[event_class.schema_version] = event_class

    def __contains__(self, event_type: object) -> bool:
        return event_type in self._events

    def __iter__(self) -> Iterator[type[DomainEvent]]:
        """Iterate over every registered class, by event type, then version."""
        for event_type in self.event_types():
            for version in self.versions(event_type):
                yield self._events[event_type][version]

    def __len__(self) -> int:
        return sum(len(versions) for versions in self._events.values())

    def event_types(self) -> list[str]:
        """Return the registered event types, sorted."""
        return sorted(self._events)

    def versions(self, event_type: str) -> list[str]:
        """Return the registered versions of ``event_type``, oldest first.

        Raises:
            UnknownEventType: If the type is not registered.
        """
        return sorted(self._versions(event_type), key=parse_schema_version)

    def get(self, event_type: str, version: str | None = None) -> type[DomainEvent]:
        """Return the model of one version of an event type (the latest by default).

        Raises:
            UnknownEventType: If the type or version is not registered.
        """
        versions = self._versions(event_type)
        if version is None:
            version = max(versions, key=parse_schema_version)
        try:
            return versions[version]
        except KeyError:
            raise UnknownEventType(
                f"{event_type} has no version {version}; registered: {self.versions(event_type)}"
            ) from None

    def json_schema(self, event_type: str, version: str | None = None) -> dict[str, Any]:
        """Return the JSON Schema (draft 2020-12) of one version's ``data``.

        Raises:
            UnknownEventType: If the type or version is not registered.
        """
        return copy.deepcopy(data_schema(self.get(event_type, version)))

    def validate(self, event: DomainEvent) -> ValidatedEvent:
        """Validate an event against the registered model of its type and version.

        Raises:
            UnknownEventType: If its type or version is not registered.
            EventValidationError: If it does not match the schema.
        """
        event_class = type(event)
        if not event_class.is_concrete():
            raise InvalidEventDefinition(
                f"{event_class.__qualname__} has no event_type; only concrete events "
                "can be recorded"
            )
        try:
            model = self.get(event_class.event_type, event_class.schema_version)
        except UnknownEventType:
            raise UnknownEventType(
                f"{event_class.event_type} {event_class.schema_version} is not registered; "
                "return its class from a chassis_event_types hook"
            ) from None
        return validate_event(event, model)

    def check_versions(
        self, mode: CompatibilityMode = CompatibilityMode.FULL
    ) -> list[VersionCheck]:
        """Check each registered version of every type against the version before it.

        Args:
            mode: The compatibility required between consecutive versions.

        Returns:
            One check per consecutive pair; look at ``ok`` and ``problems``.
        """
        checks: list[VersionCheck] = []
        for event_type in self.event_types():
            versions = self.versions(event_type)
            for older, newer in itertools.pairwise(versions):
                checks.append(
                    check_version_change(
                        event_type,
                        older,
                        data_schema(self.get(event_type, older)),
                        newer,
                        data_schema(self.get(event_type, newer)),
                        mode=mode,
                    )
                )
        return checks

    def _versions(self, event_type: str) -> dict[str, type[DomainEvent]]:
        try:
            return self._events[event_type]
        except KeyError:
            raise UnknownEventType(f"event type {event_type!r} is not registered") from None


def _qualified(event_class: type[DomainEvent]) -> str:
    return f"{event_class.__module__}.{event_class.__qualname__}"
