"""The audit's functions and triggers as alembic-utils entities.

:func:`audit_entities` turns the :mod:`~fastapi_chassis.db.audit.objects` of a
metadata into ``PGFunction`` and ``PGTrigger`` entities;
:func:`fastapi_chassis.db.migrations.chassis_entities` includes them, so an
application's ``env.py`` registers them with the rest and autogenerate creates,
replaces and drops them as tables gain or lose :class:`~fastapi_chassis.db.AuditMixin`.

The audit functions live in the ``audit`` schema, which the first audited
revision creates (see :mod:`~fastapi_chassis.db.audit.revision`). alembic-utils
compares a function by creating it in a transaction it rolls back, which fails
while that schema does not exist; the functions are therefore wrapped so that the
comparison creates the schema too, and so that a function the database lacks is
simply new. Operations reach the migration file as plain ``PGFunction`` objects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from alembic_utils.pg_function import PGFunction
from alembic_utils.replaceable_entity import ReplaceableEntity
from alembic_utils.reversible_op import CreateOp, ReplaceOp, ReversibleOp
from alembic_utils.simulate import simulate_entity
from alembic_utils.statement import normalize_whitespace
from sqlalchemy import text
from typing_extensions import override

from fastapi_chassis.db.audit.objects import audit_objects
from fastapi_chassis.db.columns import ColumnRole, column_with_role
from fastapi_chassis.db.migrations import alembic_entity
from fastapi_chassis.db.server_objects import ObjectKind, ServerObject, uuid7_function
from fastapi_chassis.db.sql_files import quote_identifier

if TYPE_CHECKING:
    from sqlalchemy import MetaData
    from sqlalchemy.orm import Session
    from sqlalchemy.sql.elements import TextClause

__all__ = ["audit_entities"]

_Entity = TypeVar("_Entity", bound=ReplaceableEntity)


def audit_entities(metadata: MetaData) -> list[ReplaceableEntity]:
    """Return the alembic-utils entities that the audited tables of ``metadata`` need.

    These are the audit subset of
    :func:`~fastapi_chassis.db.migrations.chassis_entities`, which is what ``env.py``
    registers: the helper functions in the ``audit`` schema, and for each audited
    table its capture functions and its INSERT, UPDATE, DELETE and TRUNCATE
    triggers. The ``chassis_uuid7()`` function the helpers call is
    included only when no table of the metadata has a UUIDv7 primary key (such a
    table brings it already).

    Args:
        metadata: The application's metadata (``Base.metadata``).

    Returns:
        The entities in creation order; empty when no table is audited.

    Example:
        >>> from sqlalchemy import MetaData
        >>> audit_entities(MetaData())
        []
    """
    objects = audit_objects(metadata)
    if not objects:
        return []
    entities: list[ReplaceableEntity] = []
    if not any(
        column_with_role(table, ColumnRole.UUID7_PRIMARY_KEY) is not None
        for table in metadata.tables.values()
    ):
        entities.append(alembic_entity(uuid7_function()))
    entities.extend(_entity(item) for item in objects)
    return entities


def _entity(item: ServerObject) -> ReplaceableEntity:
    if item.kind is ObjectKind.FUNCTION:
        return _FunctionInAuditSchema(PGFunction.from_sql(item.create_sql))
    return alembic_entity(item)


class _FunctionInAuditSchema(PGFunction, ReplaceableEntity):
    """A function that autogenerate can compare before its schema exists.

    Comparing creates the schema along with the function, in the transaction that
    alembic-utils rolls back. Operations and definitions are plain ``PGFunction``
    objects, so generated migration files do not depend on this class.

    ``ReplaceableEntity`` is named as a direct base on purpose: unless told
    otherwise, alembic-utils compares only its own entity classes and direct
    subclasses of ``ReplaceableEntity``.
    """

    def __init__(self, function: PGFunction) -> None:
        super().__init__(
            schema=function.schema,
            signature=function.signature,
            definition=function.definition,
        )
        # The parent escaped colons in the definition once; keep that version.
        self.definition = function.definition
        self._function = function

    @property
    @override
    def identity(self) -> str:
        # The plain function's identity, which is what the database reports.
        return self._function.identity

    @classmethod
    @override
    def from_database(cls, sess: Session, schema: str = "%") -> list[_Entity]:
        # PGFunction lists every function already; a second listing would propose
        # each unregistered function's drop twice.
        return []

    @override
    def to_sql_statement_create(self) -> TextClause:
        create = self._function.to_sql_statement_create().text  # type: ignore[no-untyped-call]
        schema = quote_identifier(self.schema)
        return text(
            "DO $chassis_compare$ BEGIN "
            f"EXECUTE 'CREATE SCHEMA IF NOT EXISTS {schema}'; "
            f"EXECUTE $chassis_function${create}$chassis_function$; "
            "END $chassis_compare$"
        )

    @override
    def get_database_definition(
        self, sess: Session, dependencies: list[ReplaceableEntity] | None = None
    ) -> _FunctionInAuditSchema:
        with simulate_entity(sess, self, dependencies):
            created = _functions_in(sess, self.schema)[self.identity]
        return _FunctionInAuditSchema(created)

    @override
    def get_required_migration_op(
        self, sess: Session, dependencies: list[ReplaceableEntity] | None = None
    ) -> ReversibleOp | None:
        current = _functions_in(sess, self.schema).get(self.identity)
        if current is None:
            return CreateOp(self._function)
        wanted = self.get_database_definition(sess, dependencies)
        if normalize_whitespace(wanted.definition) == normalize_whitespace(current.definition):
            return None
        # alembic-utils renders the downgrade of a replacement from this copy.
        self._function._version_to_replace = current  # type: ignore[assignment]  # noqa: SLF001
        return ReplaceOp(self._function)


def _functions_in(session: Session, schema: str) -> dict[str, PGFunction]:
    functions: list[PGFunction] = PGFunction.from_database(session, schema)  # type: ignore[no-untyped-call]
    return {function.identity: function for function in functions}
