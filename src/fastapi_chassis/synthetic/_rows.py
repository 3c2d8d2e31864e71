"""Table rows from factory declarations, without factory_boy's per-object machinery.

factory_boy resolves every declaration of every object through a chain of
builder, resolver and step objects, then constructs a model instance: tens of
microseconds per row before a byte reaches the database. The bulk loader reads
the same declarations once (:mod:`fastapi_chassis.synthetic._compile`) and
turns each column into a producer that fills a whole emission at a time.
Declarations that need the rest of the row (``LazyAttribute`` and friends) are
evaluated row by row against a :class:`RowView`, which resolves other columns on
demand as factory_boy's resolver does; declarations the loader does not know
are left to factory_boy itself, with every other value passed in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from fastapi_chassis.synthetic._ids import as_uuid
from fastapi_chassis.synthetic._plan import Emission, stream
from fastapi_chassis.synthetic._producers import Producer, Values, derived_seed

if TYPE_CHECKING:
    from factory.base import Factory
    from sqlalchemy import Table

    from fastapi_chassis.synthetic.pools import RowPool

__all__ = ["ColumnPlan", "RoleRows", "RowFunction", "RowView"]

_COLUMNS = 100  # first element of the spawn key of per-column streams

RowFunction = Callable[["RowView"], object]


@dataclass
class ColumnPlan:
    """How one column (or non-column declaration) gets its values.

    Exactly one of ``producer`` (a whole emission at a time), ``row_function``
    (row by row, with a view of the row) or ``from_factory`` (factory_boy builds
    the row) applies.
    """

    name: str
    key: str
    producer: Producer | None = None
    row_function: RowFunction | None = None
    from_factory: bool = False
    is_uuid: bool = False


@dataclass
class RoleRows:
    """Builds the rows of one role's table.

    Attributes:
        role: The role.
        table: The table the rows go to.
        factory_class: The role's factory.
        columns: The columns written, in COPY order.
        extras: Declarations that are not columns (``Params``, excluded names),
            which row functions may read.
        pools: Pools of existing rows that foreign keys are drawn from, by
            attribute key; the loader fills empty ones from the database.
        needs_factory: Whether factory_boy builds each row (some declaration is
            beyond the loader, or the factory customises ``_adjust_kwargs``).
        ignored_for_build: Values given to declarations factory_boy must not
            evaluate when it builds a row (sub-factories of relationships,
            post-generation declarations).
    """

    role: str
    table: Table
    factory_class: type[Factory[object]]
    role_index: int
    seed: int
    columns: list[ColumnPlan] = field(default_factory=list)
    extras: dict[str, ColumnPlan] = field(default_factory=dict)
    pools: dict[str, RowPool] = field(default_factory=dict)
    needs_factory: bool = False
    ignored_for_build: dict[str, object] = field(default_factory=dict)
    _streams: dict[str, np.random.Generator] = field(default_factory=dict)
    _by_key: dict[str, ColumnPlan] = field(default_factory=dict)

    @property
    def column_names(self) -> list[str]:
        """The names of the columns written, in order."""
        return [column.name for column in self.columns]

    def random(self, key: str) -> np.random.Generator:
        """Return the random stream of column (or non-column declaration) ``key``.

        One stream per column for the whole load: emissions come in a fixed order,
        so the draws do not depend on how rows are batched.
        """
        generator = self._streams.get(key)
        if generator is None:
            number = derived_seed(self.seed, key) % (1 << 31)
            generator = self._streams[key] = stream(self.seed, _COLUMNS, self.role_index, number)
        return generator

    def plan_of(self, key: str) -> ColumnPlan | None:
        """Return the column or non-column declaration with attribute key ``key``."""
        if not self._by_key:
            self._by_key = {**self.extras, **{column.key: column for column in self.columns}}
        return self._by_key.get(key)

    def rows(self, emission: Emission) -> list[tuple[object, ...]]:
        """Return the rows of an emission, as tuples in :attr:`column_names` order."""
        vectors: dict[str, Values] = {}
        for column in self.columns:
            if column.producer is not None:
                vectors[column.key] = column.producer(emission, self.random(column.key))
        per_row = [column for column in self.columns if column.producer is None]
        if per_row:
            self._fill_per_row(emission, vectors, per_row)
        return list(zip(*(vectors[column.key] for column in self.columns), strict=True))

    def _fill_per_row(
        self, emission: Emission, vectors: dict[str, Values], per_row: list[ColumnPlan]
    ) -> None:
        size = len(emission)
        outputs: dict[str, Values] = {column.key: [None] * size for column in per_row}
        uuid_keys = frozenset(column.key for column in self.columns if column.is_uuid)
        extra_values: dict[str, Values] = {}
        for index in range(size):
            view = RowView(
                self,
                emission,
                index=index,
                vectors=vectors,
                extras=extra_values,
                uuid_keys=uuid_keys,
            )
            if self.needs_factory:
                # factory_boy evaluates every per-row declaration itself, so lazy
                # ones can read values only it can compute.
                built = self._build(view)
                for column in per_row:
                    outputs[column.key][index] = getattr(built, column.key)
            else:
                for column in per_row:
                    outputs[column.key][index] = view.resolve(column.key)
        vectors.update(outputs)

    def _build(self, view: RowView) -> object:
        overrides: dict[str, object] = {
            column.key: view.resolve(column.key)
            for column in self.columns
            if column.producer is not None
        }
        # The row's sequence number, as the fast path uses it: deterministic,
        # whatever the factory made earlier in the process.
        overrides["__sequence"] = view.sequence
        # Relationships and post-generation declarations get a value, so that
        # factory_boy neither builds related objects nor runs related factories.
        for name, value in self.ignored_for_build.items():
            overrides.setdefault(name, value)
        return self.factory_class.build(**overrides)


_RESOLVING = object()


class RowView:
    """One row as ``LazyAttribute`` functions see it: attributes resolve on demand.

    Generated ids read as :class:`uuid.UUID`, as they would on a model instance.
    """

    __slots__ = ("_emission", "_extras", "_index", "_memo", "_owner", "_uuid_keys", "_vectors")

    def __init__(
        self,
        owner: RoleRows,
        emission: Emission,
        *,
        index: int,
        vectors: dict[str, Values],
        extras: dict[str, Values],
        uuid_keys: frozenset[str],
    ) -> None:
        self._owner = owner
        self._emission = emission
        self._index = index
        self._vectors = vectors
        self._extras = extras
        self._memo: dict[str, object] = {}
        self._uuid_keys = uuid_keys

    @property
    def sequence(self) -> int:
        """The row's sequence number (``n`` of ``factory.Sequence``)."""
        return self._emission.seq_start + self._index

    def resolve(self, name: str) -> object:
        """Return the value of declaration ``name`` for this row."""
        vector = self._vectors.get(name)
        if vector is not None:
            value = vector[self._index]
            return as_uuid(value) if name in self._uuid_keys else value
        if name in self._memo:
            value = self._memo[name]
            if value is _RESOLVING:
                raise RecursionError(f"declaration {name!r} depends on itself")
            return value
        plan = self._owner.plan_of(name)
        factory_name = self._owner.factory_class.__name__
        if plan is None:
            raise AttributeError(
                f"{factory_name} has no declaration {name!r} that bulk generation can evaluate"
            )
        if plan.producer is not None:
            # A non-column declaration with a vector producer: computed once per emission, when
            # a row first asks for it.
            values = self._extras.get(name)
            if values is None:
                values = plan.producer(self._emission, self._owner.random(name))
                self._extras[name] = values
            value = values[self._index]
        elif plan.row_function is not None:
            self._memo[name] = _RESOLVING
            value = plan.row_function(self)
        else:
            raise AttributeError(
                f"{name!r} of {factory_name} is evaluated by factory_boy and cannot be read by "
                "another declaration during bulk generation"
            )
        self._memo[name] = value
        return value

    def __getattr__(self, name: str) -> object:
        if name.startswith("__"):
            raise AttributeError(name)
        return self.resolve(name)
