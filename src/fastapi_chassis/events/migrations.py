"""Alembic autogenerate support for the outbox's notification trigger.

The outbox table itself is in ``Base.metadata``, so autogenerate creates it like
any model table. Its ``NOTIFY`` trigger and function are server objects that
metadata cannot express; register them next to the chassis's own entities in
``env.py``::

    from alembic_utils.replaceable_entity import register_entities

    from fastapi_chassis.db.migrations import chassis_entities
    from fastapi_chassis.events.migrations import outbox_entities

    register_entities([*chassis_entities(target_metadata), *outbox_entities(target_metadata)])

The relay works without the trigger too: it then finds new events by polling.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi_chassis.db.migrations import alembic_entity
from fastapi_chassis.events.outbox import outbox_server_objects, outbox_table

if TYPE_CHECKING:
    from alembic_utils.replaceable_entity import ReplaceableEntity
    from sqlalchemy import MetaData

__all__ = ["outbox_entities"]


def outbox_entities(metadata: MetaData) -> list[ReplaceableEntity]:
    """Return the alembic-utils entities of the outbox trigger, when ``metadata`` has the outbox.

    Args:
        metadata: The application's metadata (``Base.metadata``).

    Returns:
        The notification function and trigger, in creation order; empty when the
        outbox table is not part of ``metadata``.
    """
    if metadata.tables.get(outbox_table.name) is not outbox_table:
        return []
    return [alembic_entity(item) for item in outbox_server_objects()]
