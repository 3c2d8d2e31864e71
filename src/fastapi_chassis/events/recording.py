"""``record_event``: write an event to the outbox in the caller's transaction.

The event row is inserted on the session's connection, inside its transaction:
committed together with the state change it describes, or rolled back with it.
No event without its state change, and no state change without its event.

Ordering. The events of one aggregate are published in the order in which they
were written *under the aggregate's lock*: either the aggregate's row was
changed (and so locked) in the same transaction before the event was recorded,
or ``lock_aggregate=True`` took a transaction-level advisory lock on the
aggregate. ``record_event`` flushes the session's pending changes before it
inserts, so an aggregate changed through the ORM is locked by then, and the
outbox ``sequence`` is assigned by the database at insert time, under that lock:
an event object made earlier in Python (with an earlier UUIDv7) cannot overtake
one recorded before it. Two transactions that record events for the same
aggregate without either lock may interleave; their relative order is then the
order of their inserts, not of their commits.

The envelope's ``source`` and ``dataschema`` and the registry the event is
validated against come from the session (``create_app`` configures its
sessionmaker; see :func:`configure_event_sessions` for your own), the
correlation id and ``traceparent`` from the current
:func:`~fastapi_chassis.context.request_context`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, text

from fastapi_chassis.context import current_context
from fastapi_chassis.db.sql_files import load_sql
from fastapi_chassis.events.envelope import EnvelopeSettings
from fastapi_chassis.events.outbox import outbox_table
from fastapi_chassis.events.registry import EventRegistry, validate_event

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from fastapi_chassis.events.domain_event import DomainEvent

__all__ = [
    "SESSION_INFO_KEY",
    "RecordingSettings",
    "aggregate_lock_key",
    "configure_event_sessions",
    "record_event",
    "record_events",
]

_LOCK_AGGREGATES = text(load_sql("fastapi_chassis.events.sql", "lock_aggregates.sql"))

SESSION_INFO_KEY = "fastapi_chassis.events"
"""The ``Session.info`` key that holds the session's :class:`RecordingSettings`."""


@dataclass(frozen=True, slots=True)
class RecordingSettings:
    """How the sessions of a sessionmaker record events.

    Attributes:
        envelope: The ``source`` and schema base URL of the envelopes.
        registry: When set, only registered event types may be recorded, and each
            is validated with its registered model.
    """

    envelope: EnvelopeSettings = field(default_factory=EnvelopeSettings)
    registry: EventRegistry | None = None


_DEFAULT_SETTINGS = RecordingSettings()


def configure_event_sessions(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    source: str,
    dataschema_base_url: str | None = None,
    registry: EventRegistry | None = None,
) -> None:
    """Make every session of ``sessionmaker`` record events for this service.

    ``create_app`` does this for the application's sessionmaker from the settings
    (``events_source`` or ``service_name``, ``events_schema_base_url``) and the
    registry its plugins fill. Call it for sessionmakers you make yourself, in
    workers or scripts; without it, envelopes name ``fastapi-chassis`` as their
    source and events are validated against their own class only.

    Args:
        sessionmaker: The factory to configure (existing sessions are unaffected).
        source: The CloudEvents ``source``: the producing service.
        dataschema_base_url: Where the schemas are published, if anywhere.
        registry: When given, only its event types can be recorded.
    """
    info: dict[Any, Any] = dict(sessionmaker.kw.get("info") or {})
    info[SESSION_INFO_KEY] = RecordingSettings(
        EnvelopeSettings(source=source, dataschema_base_url=dataschema_base_url), registry
    )
    sessionmaker.configure(info=info)


def aggregate_lock_key(aggregate_type: str, aggregate_id: object) -> str:
    """Return the text whose ``hashtextextended(..., 0)`` is the aggregate's advisory lock.

    Raw SQL that records events for an aggregate it does not otherwise lock can
    take the same lock: ``SELECT pg_advisory_xact_lock(hashtextextended(
    'shop.order:' || :id, 0))``.
    """
    return f"{aggregate_type}:{aggregate_id}"


async def record_event(
    session: AsyncSession,
    event: DomainEvent,
    *,
    lock_aggregate: bool = False,
    registry: EventRegistry | None = None,
) -> None:
    """Validate ``event`` and insert it into the outbox in the session's transaction.

    Call it after changing the aggregate: pending ORM changes are flushed first,
    so the aggregate's row lock is held before the event's place in the order is
    fixed.

    Args:
        session: The session whose transaction the event joins.
        event: The event.
        lock_aggregate: Take a transaction-level advisory lock on the aggregate
            first. Use it when the transaction does not change the aggregate's row,
            so that concurrent writers for the same aggregate queue up.
        registry: Validate against this registry instead of the session's.

    Raises:
        EventValidationError: If the event does not match its schema; nothing is
            written (and nothing is flushed).
        UnknownEventType: If a registry is in use and does not know the event.

    Example:
        >>> order.status = "placed"
        >>> await record_event(session, OrderPlaced(aggregate_id=order.id, total_cents=1200))
        >>> await session.commit()
    """
    await record_events(session, [event], lock_aggregates=lock_aggregate, registry=registry)


async def record_events(
    session: AsyncSession,
    events: Iterable[DomainEvent],
    *,
    lock_aggregates: bool = False,
    registry: EventRegistry | None = None,
) -> None:
    """Record several events at once, in the order given (one round trip for the rows).

    Every event is validated before anything is written: one invalid event means
    none is stored.

    Args:
        session: The session whose transaction the events join.
        events: The events; an aggregate's events keep their relative order.
        lock_aggregates: Take an advisory lock on each aggregate first (in a fixed
            order, so concurrent callers cannot deadlock on them).
        registry: Validate against this registry instead of the session's.

    Raises:
        EventValidationError: If an event does not match its schema.
        UnknownEventType: If a registry is in use and does not know an event.
    """
    settings = session.info.get(SESSION_INFO_KEY, _DEFAULT_SETTINGS)
    if not isinstance(settings, RecordingSettings):
        settings = _DEFAULT_SETTINGS
    registry = registry if registry is not None else settings.registry
    context = current_context()
    rows: list[dict[str, Any]] = []
    for event in events:
        validated = registry.validate(event) if registry is not None else validate_event(event)
        event_class = validated.event_class
        rows.append(
            {
                "id": event.event_id,
                "aggregatetype": event_class.aggregate_type(),
                "aggregateid": event.aggregate_id,
                "type": event_class.event_type,
                "payload": settings.envelope.envelope(
                    validated.fields,
                    event_type=event_class.event_type,
                    schema_version=event_class.schema_version,
                    data=validated.data,
                    correlation_id=context.correlation_id,
                    traceparent=context.traceparent,
                ),
            }
        )
    if not rows:
        return
    await session.flush()
    if lock_aggregates:
        keys = sorted(
            {aggregate_lock_key(row["aggregatetype"], row["aggregateid"]) for row in rows}
        )
        # One statement for all the locks, taken in sorted order.
        await session.execute(_LOCK_AGGREGATES, {"keys": keys})
    await session.execute(insert(outbox_table), rows)
