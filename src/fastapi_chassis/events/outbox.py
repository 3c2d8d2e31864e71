"""The outbox table, part of ``Base.metadata`` as soon as ``fastapi_chassis.events`` loads.

Events are rows of ``chassis_outbox``, written in the transaction that changes
the aggregate (see :func:`~fastapi_chassis.events.record_event`), read by the
relay or by a CDC pipeline. The first five columns are the ones Debezium's
outbox event router reads with its default settings (``id``, ``aggregatetype``,
``aggregateid``, ``type``, ``payload``), so switching from the relay to CDC
changes no producer and no consumer:

| Column | What it holds |
| --- | --- |
| ``id`` | The event id (UUIDv7), the CloudEvents ``id`` and the Kafka header ``id`` |
| ``aggregatetype`` | ``<context>.<aggregate>`` (``shop.order``): the topic is derived from it |
| ``aggregateid`` | The aggregate's id: the message key, so one aggregate stays in one partition |
| ``type`` | The event type (``shop.order.placed``) |
| ``payload`` | The whole CloudEvents envelope (JSONB): the message value |
| ``sequence`` | Assigned by the database at insert time: the order of an aggregate's events |
| ``created_at`` | When the recording transaction started |
| ``published_at`` | When the row left the pending set (published, or skipped by an operator) |
| ``skipped_at`` | Set when an operator skipped a dead letter instead of publishing it |
| ``attempts`` | Failed delivery attempts so far |
| ``leased_until`` | Until then nobody may claim the row (a relay's lease, a retry's back-off) |
| ``lease_token`` | The claim that holds the lease |
| ``dead_at`` | Set after the last failed attempt: the row waits for an operator |
| ``last_error`` | Why the last attempt failed |

Two partial indexes cover the pending rows only (``published_at IS NULL``), so
they stay small however many published rows await pruning: one in sequence
order, for claiming, and one per aggregate, for the "nothing earlier is
pending" test. ``create_all()`` also installs a statement-level trigger that
sends ``NOTIFY chassis_outbox`` when events are committed; migrations get it
from :func:`fastapi_chassis.events.migrations.outbox_entities`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    Table,
    Text,
    Uuid,
    event,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from fastapi_chassis.db.base import Base
from fastapi_chassis.db.server_objects import ObjectKind, ServerObject
from fastapi_chassis.db.sql_files import load_sql

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = [
    "NOTIFY_CHANNEL",
    "OUTBOX_TABLE",
    "PENDING",
    "outbox_server_objects",
    "outbox_table",
]

OUTBOX_TABLE = "chassis_outbox"
"""The outbox table's name (in the ``public`` schema)."""

NOTIFY_CHANNEL = "chassis_outbox"
"""The LISTEN/NOTIFY channel that announces committed events."""

PENDING = "published_at IS NULL"
"""The predicate of a pending row, as the partial indexes state it."""

_SQL = "fastapi_chassis.events.sql"

outbox_table = Table(
    OUTBOX_TABLE,
    Base.metadata,
    Column("id", Uuid(as_uuid=True), primary_key=True, comment="The event id (UUIDv7)."),
    Column(
        "sequence",
        BigInteger,
        Identity(always=True),
        nullable=False,
        comment="Assigned at insert; orders the events of an aggregate.",
    ),
    Column("aggregatetype", Text, nullable=False, comment="<context>.<aggregate>"),
    Column("aggregateid", Uuid(as_uuid=True), nullable=False, comment="The message key."),
    Column("type", Text, nullable=False, comment="The event type."),
    Column("payload", JSONB, nullable=False, comment="The CloudEvents envelope."),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("published_at", DateTime(timezone=True)),
    Column("skipped_at", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("leased_until", DateTime(timezone=True)),
    Column("lease_token", Uuid(as_uuid=True)),
    Column("dead_at", DateTime(timezone=True)),
    Column("last_error", Text),
    Index("ix_chassis_outbox_pending", "sequence", postgresql_where=text(PENDING)),
    Index(
        "ix_chassis_outbox_pending_aggregate",
        "aggregatetype",
        "aggregateid",
        "sequence",
        postgresql_where=text(PENDING),
    ),
    comment="Transactional outbox: domain events waiting to be published.",
    # Room on each page lets the lease updates (no indexed column changes) be HOT
    # updates: the row version stays on its page and no index is written.
    postgresql_with={"fillfactor": 70},
)
"""The outbox :class:`~sqlalchemy.Table`, in ``fastapi_chassis.db.Base.metadata``."""


def outbox_server_objects() -> list[ServerObject]:
    """Return the notification function and trigger, in creation order."""
    table = f"public.{OUTBOX_TABLE}"
    return [
        ServerObject(
            ObjectKind.FUNCTION,
            "public",
            "chassis_outbox_notify",
            load_sql(_SQL, "notify_function.sql"),
        ),
        ServerObject(
            ObjectKind.TRIGGER,
            "public",
            "chassis_outbox_notify",
            load_sql(_SQL, "notify_trigger.sql"),
            table=table,
        ),
    ]


def _after_create(_table: Table, connection: Connection, **_: object) -> None:
    for item in outbox_server_objects():
        connection.execute(text(item.create_sql))


def _after_drop(_table: Table, connection: Connection, **_: object) -> None:
    # The trigger went with the table; the function stays unless dropped.
    for item in outbox_server_objects():
        if item.kind is ObjectKind.FUNCTION:
            connection.execute(text(item.drop_sql))


event.listen(outbox_table, "after_create", _after_create)
event.listen(outbox_table, "after_drop", _after_drop)
