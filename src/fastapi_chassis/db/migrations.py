"""Alembic autogenerate support for the server-side SQL the mixins need.

``metadata.create_all()`` installs the v7 id function and the ``updated_at`` /
version triggers through DDL events (see :mod:`fastapi_chassis.db.server_objects`).
A database managed by Alembic needs the same objects in its migrations. This
module turns the same :class:`~fastapi_chassis.db.server_objects.ServerObject`
list into `alembic-utils <https://github.com/olirice/alembic_utils>`_ entities, so
``alembic revision --autogenerate`` creates, replaces and drops them as the
models change, and a database made by ``create_all()`` shows no drift against
one made by migrations.

An application's ``env.py`` (Alembic's ``async`` template) adds the lines that
mention ``chassis`` below::

    from alembic_utils.replaceable_entity import register_entities

    from fastapi_chassis.db.migrations import (
        chassis_entities,
        include_object,
        process_revision_directives,
    )
    from myapp.models import Base

    target_metadata = Base.metadata
    register_entities(chassis_entities(target_metadata))


    def do_run_migrations(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            include_object=include_object,
            process_revision_directives=process_revision_directives,
        )
        with context.begin_transaction():
            context.run_migrations()

Your own alembic-utils entities go in the same call:
``register_entities([*chassis_entities(target_metadata), *my_entities])``. If you
have your own ``process_revision_directives``, call ours from it, before or after
your own changes (it only reorders and is idempotent).

What each piece does:

* :func:`chassis_entities` returns a ``PGFunction`` or ``PGTrigger`` for every
  function and trigger the tables of a metadata need. Generated migration files
  import only ``alembic_utils``, never this package, so they keep working
  whatever happens to the models later.
* :func:`process_revision_directives` puts the generated operations in an order
  PostgreSQL accepts. alembic-utils appends its operations after Alembic's table
  operations, but a table whose primary key defaults to ``chassis_uuid7()`` needs
  the function first, and a trigger cannot be dropped after its table. The
  upgrade and the downgrade are both ordered: trigger drops, then function
  creates and replaces, then table changes (and every other operation, in its
  original order), then trigger creates and replaces, then function drops.
* :func:`include_object` keeps autogenerate from proposing to drop the monthly
  partitions of the audit log, which are created at run time and are not in any
  metadata. Everything else is included.

Limitations:
    * Autogenerate finds a trigger's definition by creating it in a transaction
      that is rolled back, which cannot work when its table is created by the
      same revision. Such a trigger is emitted as written, without that check;
      the next autogenerate compares it for real.
    * Functions move ahead of tables by kind, not by what they use. A function
      whose arguments or result use the row type of a table created in the same
      revision must be moved back by hand. ``LANGUAGE sql`` functions stay after
      the tables, because PostgreSQL checks their bodies when they are created.
    * alembic-utils looks for functions and triggers only in the schemas of the
      registered entities (every schema with ``include_schemas=True``), and there
      it proposes to drop each one that is not registered. Register your own
      entities too, or leave them out with your own ``include_object``.
    * For the same reason, when the last table that needs chassis functions
      leaves a schema, nothing proposes to drop the functions (its triggers go
      with the tables): add ``op.drop_entity`` to that migration by hand, or
      autogenerate it with ``include_schemas=True``.
    * Do not pass ``entity_types`` to ``register_entities``: the triggers returned
      here are of a private ``PGTrigger`` subclass, which that filter would skip,
      so autogenerate would propose dropping them.
    * alembic-utils leaves the table name unquoted when it drops a trigger, so a
      trigger on a table whose name needs quoting (capital letters, spaces) is
      created, but autogenerate cannot compare it and a downgrade cannot drop it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from enum import IntEnum
from typing import TYPE_CHECKING, TypeAlias, TypeVar

from alembic_utils.pg_function import PGFunction
from alembic_utils.pg_trigger import PGTrigger
from alembic_utils.replaceable_entity import ReplaceableEntity
from alembic_utils.reversible_op import CreateOp, DropOp, ReversibleOp
from sqlalchemy import MetaData, Table, text
from typing_extensions import override

from fastapi_chassis.db.server_objects import ObjectKind, ServerObject, server_objects
from fastapi_chassis.db.sql_files import qualified_name

if TYPE_CHECKING:
    from alembic.operations.ops import MigrateOperation, MigrationScript
    from alembic.runtime.environment import NameFilterType
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy.orm import Session
    from sqlalchemy.sql.schema import SchemaItem

__all__ = [
    "EntityProvider",
    "alembic_entity",
    "chassis_entities",
    "include_object",
    "process_revision_directives",
]

_Entity = TypeVar("_Entity", bound=ReplaceableEntity)

EntityProvider: TypeAlias = Callable[[MetaData], Iterable[ReplaceableEntity]]
"""A function that returns the alembic-utils entities a metadata's tables need."""


def alembic_entity(server_object: ServerObject) -> ReplaceableEntity:
    """Return the alembic-utils entity that creates ``server_object``.

    The entity is parsed from the object's own ``CREATE`` statement, so migrations
    and ``create_all()`` install the same SQL.

    Args:
        server_object: A function or trigger from
            :func:`~fastapi_chassis.db.server_objects.server_objects`.
    """
    if server_object.kind is ObjectKind.FUNCTION:
        # The body is kept as written: collapsing its whitespace would turn a
        # ``--`` comment into the end of the function.
        return PGFunction.from_sql(server_object.create_sql)
    # alembic-utils parses triggers with a pattern that expects single spaces.
    trigger = PGTrigger.from_sql(" ".join(server_object.create_sql.split()))
    return _TriggerOnTable(trigger)


def _mixin_entities(metadata: MetaData) -> list[ReplaceableEntity]:
    return [alembic_entity(item) for item in server_objects(metadata)]


def _entity_providers() -> tuple[EntityProvider, ...]:
    # Each capability with server-side SQL contributes its entities here. The tuple
    # is built on each call, so a provider's module may import this one (the
    # conversion lives here) and be imported inside this function.
    from fastapi_chassis.db.audit.entities import audit_entities  # noqa: PLC0415

    return (_mixin_entities, audit_entities)


def chassis_entities(metadata: MetaData) -> list[ReplaceableEntity]:
    """Return every alembic-utils entity the tables of ``metadata`` need.

    Pass the result to ``alembic_utils.replaceable_entity.register_entities`` in
    ``env.py`` (see the module documentation for the whole recipe).

    Args:
        metadata: The application's metadata (``Base.metadata``).

    Returns:
        The functions and triggers, in creation order.

    Example:
        >>> from sqlalchemy import MetaData
        >>> chassis_entities(MetaData())
        []
    """
    return [entity for provider in _entity_providers() for entity in provider(metadata)]


class _TriggerOnTable(PGTrigger, ReplaceableEntity):
    """A trigger that autogenerate can compare before its table exists.

    alembic-utils reads a trigger's definition back from the database after
    creating it in a rolled-back transaction, which fails when the table is
    created by the revision being generated. A trigger whose table does not exist
    yet is new: it gets a create operation without that round trip. Operations and
    definitions are handed to alembic-utils as plain ``PGTrigger`` objects, so
    generated migration files do not depend on this class.

    ``ReplaceableEntity`` is named as a direct base on purpose: unless told
    otherwise, alembic-utils compares only its own entity classes and direct
    subclasses of ``ReplaceableEntity``.
    """

    def __init__(self, trigger: PGTrigger) -> None:
        super().__init__(
            schema=trigger.schema,
            signature=trigger.signature,
            definition=trigger.definition,
            on_entity=trigger.on_entity,
            is_constraint=trigger.is_constraint,
        )
        # The parent escaped colons in the definition once; keep that version.
        self.definition = trigger.definition
        self._trigger = trigger

    @property
    @override
    def identity(self) -> str:
        # The same identity as the plain trigger that the database reports, so
        # alembic-utils matches the two and proposes no drop.
        return self._trigger.identity

    @classmethod
    @override
    def from_database(cls, sess: Session, schema: str = "%") -> list[_Entity]:
        # alembic-utils lists the database's objects once per entity class when it
        # looks for drops; PGTrigger already lists every trigger, and a second
        # listing would propose each unregistered trigger's drop twice.
        return []

    @override
    def get_required_migration_op(
        self, sess: Session, dependencies: list[ReplaceableEntity] | None = None
    ) -> ReversibleOp | None:
        if not self._table_exists(sess):
            return CreateOp(self._trigger)
        return self._trigger.get_required_migration_op(sess, dependencies=dependencies)

    @override
    def get_database_definition(
        self, sess: Session, dependencies: list[ReplaceableEntity] | None = None
    ) -> _TriggerOnTable:
        if not self._table_exists(sess):
            return self
        return _TriggerOnTable(
            self._trigger.get_database_definition(sess, dependencies=dependencies)
        )

    def _table_exists(self, session: Session) -> bool:
        schema, _, table = self.on_entity.partition(".")
        found = session.execute(
            text("SELECT to_regclass(:table) IS NOT NULL"),
            {"table": qualified_name(schema, table)},
        ).scalar_one()
        return bool(found)


# Partitions are created at run time, ahead of the month they hold, so no metadata
# declares them. Keyed by schema: the audit log's monthly and DEFAULT partitions.
_PARTITION_NAMES: dict[str, re.Pattern[str]] = {
    "audit": re.compile(r"log_(?:p\d{6}|default)"),
}


def include_object(
    object_: SchemaItem,
    name: str | None,
    type_: NameFilterType,
    reflected: bool,  # noqa: FBT001 - Alembic passes it positionally
    compare_to: SchemaItem | None,
) -> bool:
    """Tell Alembic's autogenerate which objects to compare.

    Pass it as ``context.configure(include_object=include_object)`` in ``env.py``.
    A table found in the database, absent from the metadata, and named like a
    chassis-managed partition (``audit.log_p202601``, ``audit.log_default``) is
    left out, so autogenerate never proposes to drop it. Everything else is
    included. To combine it with your own rules, call it from your function.

    Args:
        object_: The table, column, index, constraint or alembic-utils entity.
        name: The object's name.
        type_: What kind of object it is (``"table"``, ``"column"``, ...).
        reflected: Whether the object was found in the database.
        compare_to: The other side of the comparison, ``None`` when the object
            exists on one side only.

    Returns:
        ``False`` for partitions, ``True`` otherwise.
    """
    if type_ != "table" or not reflected or compare_to is not None or name is None:
        return True
    schema = object_.schema if isinstance(object_, Table) else None
    pattern = _PARTITION_NAMES.get(schema or "")
    return pattern is None or pattern.fullmatch(name) is None


class _Stage(IntEnum):
    """Where an operation goes in a migration, first to last."""

    DROP_TRIGGERS = 0
    CREATE_FUNCTIONS = 1
    TABLES = 2
    CREATE_TRIGGERS = 3
    DROP_FUNCTIONS = 4


_SQL_LANGUAGE = re.compile(r"\bLANGUAGE\s+'?sql'?(?![\w$])", re.IGNORECASE)


def _stage(operation: MigrateOperation) -> _Stage:
    if not isinstance(operation, ReversibleOp):
        return _Stage.TABLES
    target = operation.target
    dropped = isinstance(operation, DropOp)
    if isinstance(target, PGTrigger):
        return _Stage.DROP_TRIGGERS if dropped else _Stage.CREATE_TRIGGERS
    if isinstance(target, PGFunction) and not _SQL_LANGUAGE.search(target.definition):
        return _Stage.DROP_FUNCTIONS if dropped else _Stage.CREATE_FUNCTIONS
    return _Stage.TABLES


def process_revision_directives(
    context: MigrationContext,
    _revision: str | Iterable[str | None] | Iterable[str],
    directives: list[MigrationScript],
) -> None:
    """Order autogenerated operations so that PostgreSQL accepts the migration.

    Pass it as ``context.configure(process_revision_directives=...)`` in
    ``env.py``. Upgrade and downgrade are each ordered in stages: trigger drops,
    function creates and replaces, table changes and all other operations,
    trigger creates and replaces, function drops. Within a stage the order
    autogenerate chose is kept. A revision that creates audit functions also
    gets the statements that install the audit log and secure the functions
    (see :mod:`fastapi_chassis.db.audit.revision`). Running it again changes
    nothing, so it composes with your own hook in either order.

    Args:
        context: The migration context.
        _revision: The revision being generated (unused).
        directives: The migration scripts autogenerate produced; reordered in
            place.
    """
    from fastapi_chassis.db.audit.revision import audit_revision_directives  # noqa: PLC0415

    for script in directives:
        for container in (*script.upgrade_ops_list, *script.downgrade_ops_list):
            container.ops.sort(key=_stage)
    audit_revision_directives(context, directives)
