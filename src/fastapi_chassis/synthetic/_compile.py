"""Reading factories once: how each column of each role's table gets its values.

The scenario owns some columns outright: the primary key (a v7 id at the row's
event time), ``created_at``/``updated_at`` (the event time), ``version`` (1) and
the foreign keys between role tables. The rest follow the factory's
declarations:

* ``Planned`` takes the scenario's fact, ``FromPool`` draws from its pool;
* ``factory.Faker`` draws from a pool of values made once by a seeded Faker (per
  customer locale); on a unique column it calls Faker's ``unique`` proxy per row;
* ``Sequence``, ``LazyFunction``, ``Iterator`` and fuzzy declarations are called
  per row; ``LazyAttribute``, ``LazyAttributeSequence`` and ``SelfAttribute``
  per row with a view of the row;
* plain values repeat; Python-side column defaults apply;
* anything else (``Maybe``, ``Dict``, a ``SubFactory`` on a plain column, a
  custom ``_adjust_kwargs``...) is left to factory_boy, per row.

``RelatedFactory`` and post-generation declarations are ignored: the scenario
makes the related rows itself. A foreign key to a table outside the roles is
drawn from the rows that exist in it (loaded before the load starts), or left
``NULL`` when it is nullable and the table is empty.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import faker
from factory import fuzzy
from factory.base import Factory
from factory.declarations import (
    BaseDeclaration,
    Iterator,
    LazyAttribute,
    LazyAttributeSequence,
    LazyFunction,
    SelfAttribute,
)
from factory.declarations import Sequence as SequenceDeclaration
from factory.faker import Faker as FakerDeclaration
from sqlalchemy import Column, Table, UniqueConstraint, inspect
from sqlalchemy.orm import Mapper

from fastapi_chassis.db.columns import ColumnRole, column_role
from fastapi_chassis.synthetic import _producers as produce
from fastapi_chassis.synthetic._plan import FACTS
from fastapi_chassis.synthetic._rows import ColumnPlan, RoleRows, RowFunction, RowView
from fastapi_chassis.synthetic.declarations import FromPool, Planned
from fastapi_chassis.synthetic.errors import RoleBindingError
from fastapi_chassis.synthetic.pools import RowPool, primary_key_column
from fastapi_chassis.synthetic.roles import Role

if TYPE_CHECKING:
    import numpy as np

    from fastapi_chassis.synthetic._plan import Emission, ScenarioPlan

__all__ = ["compile_roles"]

Compiled = tuple[produce.Producer | None, RowFunction | None]

# The links the scenario decides: which customer places an order, which order
# and product a line belongs to.
_PLANNED_LINKS = frozenset(
    {
        (Role.ORDER, Role.CUSTOMER),
        (Role.ORDER_ITEM, Role.ORDER),
        (Role.ORDER_ITEM, Role.PRODUCT),
    }
)
_ABSENT = object()  # the factory declares nothing for the column
_UNSUPPORTED = object()  # only factory_boy can evaluate the column's declaration
_HOUSEKEEPING = {
    ColumnRole.CREATED_AT: produce.created,
    ColumnRole.UPDATED_AT: produce.created,
    ColumnRole.VERSION: produce.constant(1),
}


@dataclass
class _Context:
    plan: ScenarioPlan
    role: str
    role_tables: Mapping[Table, str]
    seed: int
    pool_size: int
    fakers: dict[str, faker.Faker]
    unique: set[Column[Any]] = field(default_factory=set)


def compile_roles(
    factories: Mapping[str, type[Factory[object]]],
    plan: ScenarioPlan,
    *,
    seed: int,
    pool_size: int,
) -> dict[str, RoleRows]:
    """Compile the row builders of every role, checking that the role tables link up.

    Raises:
        RoleBindingError: If a role's model or declarations cannot be bulk-loaded.
    """
    tables = {role: _role_table(role, factory_class) for role, factory_class in factories.items()}
    role_tables: dict[Table, str] = {}
    for role, table in tables.items():
        if table in role_tables:
            raise RoleBindingError(
                f"roles {role_tables[table]!r} and {role!r} are bound to the same table "
                f"{table.fullname}"
            )
        role_tables[table] = role
    compiled: dict[str, RoleRows] = {}
    fakers: dict[str, faker.Faker] = {}
    for index, (role, factory_class) in enumerate(sorted(factories.items())):
        context = _Context(plan, role, role_tables, seed, pool_size, fakers)
        compiled[role] = _compile_role(role, factory_class, context, index)
    for role, target in sorted(_PLANNED_LINKS):
        table, referenced = tables[role], tables[target]
        if not any(key.column.table is referenced for key in table.foreign_keys):
            raise RoleBindingError(
                f"the {role} table {table.fullname} has no foreign key to the {target} table "
                f"{referenced.fullname}; scenarios link each {role} to a {target}"
            )
    return compiled


def _role_table(role: str, factory_class: type[Factory[object]]) -> Table:
    model = factory_class._meta.model  # noqa: SLF001 - factory_boy keeps its options in _meta
    mapper = inspect(model, raiseerr=False)
    if not isinstance(mapper, Mapper) or not isinstance(mapper.local_table, Table):
        raise RoleBindingError(f"the model of role {role!r} ({model!r}) is not a mapped table")
    table = mapper.local_table
    try:
        primary_key = primary_key_column(table)
    except Exception as error:
        raise RoleBindingError(str(error)) from error
    if not _is_uuid(primary_key):
        raise RoleBindingError(
            f"{table.fullname}.{primary_key.name} must be a UUID for bulk loading (the loader "
            "assigns v7 ids so that rows can reference each other without a round trip)"
        )
    return table


def _is_uuid(column: Column[Any]) -> bool:
    try:
        return column.type.python_type.__name__ == "UUID"
    except NotImplementedError:
        return False


def _compile_role(
    role: str, factory_class: type[Factory[object]], context: _Context, role_index: int
) -> RoleRows:
    mapper: Mapper[Any] = inspect(factory_class._meta.model)  # noqa: SLF001
    table = _role_table(role, factory_class)
    meta = factory_class._meta  # noqa: SLF001
    rename: Mapping[str, str] = meta.rename  # type: ignore[attr-defined]
    declarations = {
        rename.get(name, name): value for name, value in meta.pre_declarations.declarations.items()
    }
    nested: Mapping[str, Mapping[str, object]] = meta.pre_declarations.contexts
    relationships = set(mapper.relationships.keys())
    post = set(meta.post_declarations.declarations)
    # Related objects are the scenario's business: factory_boy must not build them.
    ignored: dict[str, object] = dict.fromkeys(sorted(post))
    for name, relationship in mapper.relationships.items():
        if name in declarations:
            ignored[name] = [] if relationship.uselist else None
    rows = RoleRows(
        role=role,
        table=table,
        factory_class=factory_class,
        role_index=role_index,
        seed=context.seed,
        ignored_for_build=ignored,
    )
    context.unique = _unique_columns(table)
    column_keys = set(relationships | post)
    for column in table.columns:
        key = mapper.get_property_by_column(column).key
        column_keys.add(key)
        declaration = declarations.get(key, _ABSENT)
        if nested.get(key):
            declaration = _UNSUPPORTED  # "name__x=..." arguments need factory_boy
        plan = _column_plan(column, key, declaration, context, rows)
        if plan is not None:
            rows.columns.append(plan)
    if _customises_kwargs(factory_class):
        # _adjust_kwargs may rewrite any declared value: factory_boy has the last word.
        for plan in rows.columns:
            if plan.key in declarations and plan.producer is not produce.ids:
                plan.producer, plan.row_function, plan.from_factory = None, None, True
    rows.needs_factory = any(plan.from_factory for plan in rows.columns)
    for name, declaration in declarations.items():
        if name not in column_keys and (compiled := _declaration(name, declaration, context)):
            rows.extras[name] = ColumnPlan(name, name, *compiled)
    return rows


def _customises_kwargs(factory_class: type[Factory[object]]) -> bool:
    own = getattr(factory_class._adjust_kwargs, "__func__", None)  # noqa: SLF001
    return own is not getattr(Factory._adjust_kwargs, "__func__", None)  # noqa: SLF001


def _column_plan(
    column: Column[Any], key: str, declaration: object, context: _Context, rows: RoleRows
) -> ColumnPlan | None:
    """Decide where a column's values come from; ``None`` leaves it to the server."""
    if column.computed is not None:
        return None
    plan = ColumnPlan(column.name, key, is_uuid=_is_uuid(column))
    kind = column_role(column)
    if column.primary_key:
        plan.producer = produce.ids
    elif kind in _HOUSEKEEPING:
        plan.producer = _HOUSEKEEPING[kind]
    elif kind in (ColumnRole.DELETED_AT, ColumnRole.IS_DELETED):
        return None  # generated rows are live
    elif column.foreign_keys and (link := _foreign_key(column, declaration, context, rows)):
        plan.producer = link
    elif declaration is _UNSUPPORTED:
        plan.from_factory = True
    elif declaration is not _ABSENT:
        compiled = _declaration(key, declaration, context, column)
        if compiled is None:
            plan.from_factory = True
        else:
            plan.producer, plan.row_function = compiled
    elif (default := _python_default(column)) is not None:
        plan.producer = default
    elif column.server_default is not None or column.nullable or column.autoincrement is True:
        return None
    else:
        raise RoleBindingError(
            f"{column.table.fullname}.{column.name} is NOT NULL, has no default and "
            f"{rows.factory_class.__name__} declares nothing for it"
        )
    return plan


def _unique_columns(table: Table) -> set[Column[Any]]:
    unique: set[Column[Any]] = {column for column in table.columns if column.unique}
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint) and len(constraint.columns) == 1:
            unique.update(constraint.columns)
    for index in table.indexes:
        if index.unique and len(index.columns) == 1 and len(index.expressions) == 1:
            unique.update(index.columns)
    return unique


# -- declarations --------------------------------------------------------------


def _declaration(
    name: str, declaration: object, context: _Context, column: Column[Any] | None = None
) -> Compiled | None:
    """Compile one declaration; ``None`` when only factory_boy can evaluate it."""
    if not isinstance(declaration, BaseDeclaration):
        return produce.constant(declaration), None
    for kind, compile_one in _COMPILERS:
        if isinstance(declaration, kind):
            return compile_one(name, declaration, context, column)
    return None


def _planned(
    name: str, declaration: Planned, context: _Context, _column: Column[Any] | None
) -> Compiled:
    facts = FACTS.get(context.role, {})
    if declaration.fact not in facts:
        raise RoleBindingError(
            f"{name} = Planned({declaration.fact!r}): the {context.role} role has no such fact; "
            f"it has {', '.join(sorted(facts)) or 'none'}"
        )
    return produce.fact(declaration.fact), None


def _from_pool(
    _name: str, declaration: FromPool, _context: _Context, _column: Column[Any] | None
) -> Compiled:
    pool = declaration.pool
    return produce.uniform(lambda: pool.ids, f"rows in {pool.table.fullname}"), None


def _faker(
    name: str, declaration: FakerDeclaration, context: _Context, column: Column[Any] | None
) -> Compiled | None:
    arguments = dict(declaration._defaults)  # noqa: SLF001 - where factory_boy keeps them
    locale = arguments.pop("locale", None)
    if any(isinstance(value, BaseDeclaration) for value in arguments.values()):
        return None
    plan = context.plan
    if locale is not None:
        locales, weights = [str(locale)], [1.0]
    elif context.role == Role.CUSTOMER:
        locales = list(plan.locales)
        weights = [float(plan.scenario.locales[item]) for item in locales]
    else:
        locales, weights = [plan.primary_locale], [1.0]
    values = produce.FakerValues(
        declaration.provider,
        arguments,
        locales=locales,
        weights=weights,
        pool_size=context.pool_size,
        seed=produce.derived_seed(context.seed, "faker", context.role, name),
        unique=column is not None and column in context.unique,
        fakers=context.fakers,
    )
    return values, None


def _lazy_sequence(
    _name: str, declaration: LazyAttributeSequence, _context: _Context, _c: Column[Any] | None
) -> Compiled:
    function: Callable[[RowView, int], object] = declaration.function
    return None, lambda view: function(view, view.sequence)


def _sequence(
    _name: str, declaration: SequenceDeclaration, _context: _Context, _c: Column[Any] | None
) -> Compiled:
    function: Callable[[int], object] = declaration.function
    return produce.per_row(function), None


def _lazy_function(
    _name: str, declaration: LazyFunction, _context: _Context, _c: Column[Any] | None
) -> Compiled:
    make: Callable[[], object] = declaration.function
    return produce.per_row(lambda _n: make()), None


def _lazy_attribute(
    _name: str, declaration: LazyAttribute, _context: _Context, _c: Column[Any] | None
) -> Compiled:
    function: RowFunction = declaration.function
    return None, function


def _self_attribute(
    _name: str, declaration: SelfAttribute, _context: _Context, _c: Column[Any] | None
) -> Compiled | None:
    if declaration.depth > 1:
        return None  # "..parent" attributes point outside the row
    path = declaration.attribute_name.split(".")
    default = declaration.default

    def read(view: RowView) -> object:
        try:
            value: object = view.resolve(path[0])
            for part in path[1:]:
                value = getattr(value, part)
        except AttributeError:
            if default is _NO_DEFAULT:
                raise
            return default
        return value

    return None, read


_NO_DEFAULT = SelfAttribute("x").default  # type: ignore[no-untyped-call]


def _iterator(
    _name: str, declaration: Iterator, _context: _Context, _c: Column[Any] | None
) -> Compiled:
    # A fresh iterator per load: the values start over, as in a new process.
    iterator = declaration.iterator_builder()  # type: ignore[no-untyped-call]
    getter = declaration.getter

    def next_value(_n: int) -> object:
        value = next(iter(iterator))
        return value if getter is None else getter(value)

    return produce.per_row(next_value), None


def _fuzzy(
    _name: str, declaration: fuzzy.BaseFuzzyAttribute, _context: _Context, _c: Column[Any] | None
) -> Compiled:
    fuzz: Callable[[], object] = declaration.fuzz
    return produce.per_row(lambda _n: fuzz()), None


# Checked in order: LazyAttributeSequence is a Sequence too.
_COMPILERS: tuple[tuple[type, Callable[..., Compiled | None]], ...] = (
    (Planned, _planned),
    (FromPool, _from_pool),
    (FakerDeclaration, _faker),
    (LazyAttributeSequence, _lazy_sequence),
    (SequenceDeclaration, _sequence),
    (LazyFunction, _lazy_function),
    (LazyAttribute, _lazy_attribute),
    (SelfAttribute, _self_attribute),
    (Iterator, _iterator),
    (fuzzy.BaseFuzzyAttribute, _fuzzy),
)


def _python_default(column: Column[Any]) -> produce.Producer | None:
    default = column.default
    if default is None:
        return None
    if getattr(default, "is_scalar", False):
        return produce.constant(default.arg)  # type: ignore[attr-defined]
    if getattr(default, "is_callable", False):
        function = default.arg  # type: ignore[attr-defined]
        # SQLAlchemy wraps a function of no arguments to take an execution context.
        return produce.per_row(lambda _n: function(None))
    return None


# -- foreign keys --------------------------------------------------------------


def _foreign_key(
    column: Column[Any], declaration: object, context: _Context, rows: RoleRows
) -> produce.Producer | None:
    """Producer of a foreign-key column; ``None`` leaves it to the declaration."""
    keys = list(column.foreign_keys)
    if len(keys) != 1:
        return None
    target = keys[0].column.table
    referenced = context.role_tables.get(target)
    if referenced is not None:
        return _role_link(column, referenced, context)
    if isinstance(declaration, FromPool):
        rows.pools[column.key] = declaration.pool
    elif declaration is _ABSENT:
        rows.pools[column.key] = RowPool(target)
    else:
        return None
    return _existing_rows(column, target, rows)


def _role_link(column: Column[Any], referenced: str, context: _Context) -> produce.Producer | None:
    plan = context.plan
    where = f"{column.table.name}.{column.name}"
    if context.role in plan.extra_roles and referenced not in plan.extra_roles:
        raise RoleBindingError(
            f"{where}: the extra role {context.role!r} is made before the core roles and cannot "
            f"reference the {referenced} table"
        )
    if referenced == context.role:
        return None  # a link inside the role's own table is left to the declaration
    if (context.role, referenced) in _PLANNED_LINKS:
        return produce.ref(referenced)
    if referenced == Role.PRODUCT or referenced in plan.extra_roles:
        return produce.uniform(lambda: plan.ids_by_role.get(referenced, []), f"{referenced} rows")
    raise RoleBindingError(
        f"{where} references the {referenced} role's table, which the scenario fills after the "
        f"{context.role} role; only customer -> order -> order_item links and links to products "
        "and extra roles are supported"
    )


def _existing_rows(column: Column[Any], target: Table, rows: RoleRows) -> produce.Producer:
    pools = rows.pools
    key = column.key
    nullable = bool(column.nullable)

    def draw(emission: Emission, rng: np.random.Generator) -> produce.Values:
        # Looked up at each call: the loader swaps in a pool loaded from the database.
        ids = pools[key].ids
        if not ids:
            if nullable:
                return [None] * len(emission)
            raise RoleBindingError(
                f"{column.table.name}.{column.name} needs rows in {target.fullname}, which is "
                "empty: load them first or bind the table to a role (Volumes.extra)"
            )
        picks = rng.integers(0, len(ids), size=len(emission))
        return [ids[index] for index in picks.tolist()]

    return draw
