"""Column producers: each fills one column for a whole emission at a time.

A producer takes an emission and the column's random stream and returns one
value per row. Most are vectorised (ids, timestamps, facts, draws from value
pools); ``_per_row`` wraps declarations that factory_boy evaluates one object
at a time (``Sequence``, ``LazyFunction``, fuzzy attributes).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence

import faker
import numpy as np
from factory.faker import Faker as FakerDeclaration

from fastapi_chassis.synthetic._plan import Emission
from fastapi_chassis.synthetic.errors import RoleBindingError
from fastapi_chassis.synthetic.providers import CommerceProvider

__all__ = [
    "FakerValues",
    "Producer",
    "Values",
    "constant",
    "created",
    "derived_seed",
    "fact",
    "ids",
    "per_row",
    "ref",
    "seeded_faker",
    "uniform",
]

Values = list[object]
Producer = Callable[[Emission, np.random.Generator], Values]

_MIN_LOCALE_POOL = 16


def derived_seed(seed: int, *parts: object) -> int:
    """Return a 64-bit seed for one purpose of a run (stable across processes)."""
    # hash() of a str changes with every interpreter start; a digest does not.
    text = "\x1f".join(str(part) for part in (seed, *parts))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def constant(value: object) -> Producer:
    """The same value in every row."""

    def produce(emission: Emission, _rng: np.random.Generator) -> Values:
        return [value] * len(emission)

    return produce


def ids(emission: Emission, _rng: np.random.Generator) -> Values:
    """The plan's primary keys."""
    return list(emission.ids)


def created(emission: Emission, _rng: np.random.Generator) -> Values:
    """The plan's event times (``created_at`` and ``updated_at``)."""
    return list(emission.created)


def fact(name: str) -> Producer:
    """A fact of the plan, for ``Planned`` declarations."""

    def produce(emission: Emission, _rng: np.random.Generator) -> Values:
        return emission.fact(name)

    return produce


def ref(role: str) -> Producer:
    """The foreign keys the plan chose towards ``role``."""

    def produce(emission: Emission, _rng: np.random.Generator) -> Values:
        return list(emission.refs[role])

    return produce


def uniform(source: Callable[[], Sequence[object]], what: str) -> Producer:
    """Keys drawn uniformly from what ``source`` returns when the emission is built."""

    def produce(emission: Emission, rng: np.random.Generator) -> Values:
        choices = source()
        if not choices:
            raise RoleBindingError(f"there are no {what} to draw a foreign key from")
        picks = rng.integers(0, len(choices), size=len(emission))
        return [choices[index] for index in picks.tolist()]

    return produce


def per_row(function: Callable[[int], object]) -> Producer:
    """``function(n)`` for each row, ``n`` being the row's sequence number in its role."""

    def produce(emission: Emission, _rng: np.random.Generator) -> Values:
        start = emission.seq_start
        return [function(start + index) for index in range(len(emission))]

    return produce


class FakerValues:
    """A ``factory.Faker`` column: draws from pools made once by a seeded Faker.

    With several locales (the customers of a scenario), each locale gets its own
    pool, sized by its weight, and each row draws from the pool of its locale, so
    a customer's name, address and phone number agree. A unique column instead
    calls Faker's ``unique`` proxy for every row: slower, never repeating.
    """

    def __init__(
        self,
        formatter: str,
        kwargs: Mapping[str, object],
        *,
        locales: Sequence[str],
        weights: Sequence[float],
        pool_size: int,
        seed: int,
        unique: bool,
        fakers: dict[str, faker.Faker] | None = None,
    ) -> None:
        self.formatter = formatter
        # Making a Faker costs tens of milliseconds, seeding one almost nothing:
        # the columns of a load share one per locale and reseed it for each pool.
        self.fakers = {} if fakers is None else fakers
        self.kwargs = dict(kwargs)
        self.locales = list(locales)
        self.weights = list(weights)
        self.pool_size = pool_size
        self.seed = seed
        self.unique = unique
        self._pool: list[object] | None = None
        self._offsets = np.zeros(len(self.locales), dtype=np.int64)
        self._sizes = np.zeros(len(self.locales), dtype=np.int64)
        self._unique_faker: faker.Faker | None = None

    def __call__(self, emission: Emission, rng: np.random.Generator) -> Values:
        size = len(emission)
        if self.unique:
            return self._unique_values(size)
        pool = self._values()
        codes = emission.locale_codes if len(self.locales) > 1 else None
        if codes is None:
            picks = rng.integers(0, self._sizes[0], size=size)
        else:
            picks = self._offsets[codes] + (rng.random(size) * self._sizes[codes]).astype(np.int64)
        return [pool[index] for index in picks.tolist()]

    def _values(self) -> list[object]:
        if self._pool is None:
            pool: list[object] = []
            total = sum(self.weights)
            for position, locale in enumerate(self.locales):
                share = self.weights[position] / total
                count = max(_MIN_LOCALE_POOL, round(self.pool_size * share))
                fake = self.fakers.get(locale)
                if fake is None:
                    fake = self.fakers[locale] = seeded_faker(locale, 0)
                fake.seed_instance(derived_seed(self.seed, locale))
                self._offsets[position] = len(pool)
                self._sizes[position] = count
                pool.extend(fake.format(self.formatter, **self.kwargs) for _ in range(count))
            self._pool = pool
        return self._pool

    def _unique_values(self, size: int) -> Values:
        if self._unique_faker is None:
            self._unique_faker = seeded_faker(self.locales[0], derived_seed(self.seed, "unique"))
        method = getattr(self._unique_faker.unique, self.formatter)
        return [method(**self.kwargs) for _ in range(size)]


def seeded_faker(locale: str, seed: int) -> faker.Faker:
    """Return a Faker for ``locale`` with factory_boy's providers, seeded with ``seed``.

    Providers an application added through ``factory.Faker.add_provider`` live
    on factory_boy's own Faker instances; they are copied so that declarations
    naming them work.
    """
    fake = faker.Faker(locale)
    present = {type(provider) for provider in fake.get_providers()}
    shared = FakerDeclaration._get_faker(locale)  # type: ignore[no-untyped-call]  # noqa: SLF001
    for provider in shared.get_providers():
        if type(provider) not in present:
            fake.add_provider(type(provider))
            present.add(type(provider))
    if CommerceProvider not in present:
        fake.add_provider(CommerceProvider)
    fake.seed_instance(seed)
    return fake
