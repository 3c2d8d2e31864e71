"""The scenario plan: who orders what and when, drawn block by block with numpy.

The plan turns a scenario, a scale and a seed into *emissions*: groups of rows
of one role, each with their ids, event times, foreign-key targets and facts
(prices, quantities, cohorts...). It never builds table rows; the row builders
(:mod:`fastapi_chassis.synthetic._rows`) do, from the application's factories.

Rows are emitted one role at a time (:meth:`ScenarioPlan.emissions`), so that
the loader can stream each table through a single COPY. Every pass draws the
same random numbers in the same order from streams keyed by the seed and by what
they are for (the days, block ``b`` of day ``d``...), and only builds the Python
objects of the role it emits; the data therefore never depends on how it is
batched or which pass produced it.

Memory stays flat as the scale grows: orders are drawn a day at a time and
emitted in blocks of :data:`BLOCK` orders. What a pass keeps for the whole run
is per customer (two 64-bit id halves and a cumulative repeat weight) and per
product, never per order or line.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from fastapi_chassis.synthetic._ids import SeededUUIDv7, datetimes_from_ms, uuid_hex_from
from fastapi_chassis.synthetic.prices import cents_to_decimal, lognormal_price_cents
from fastapi_chassis.synthetic.providers import CATEGORIES
from fastapi_chassis.synthetic.roles import Role

if TYPE_CHECKING:
    from fastapi_chassis.synthetic.scenarios import EntityCounts, Scenario

__all__ = ["BLOCK", "FACTS", "Emission", "ScenarioPlan", "largest_remainder", "stream"]

BLOCK = 1024
"""Orders (or customers, or products) per emission; fixed, so data never depends on batching."""

_DAY_MS = 86_400_000
_HOUR_MS = 3_600_000
_MAX_QUANTITY = 99
_SIGNUP_BEFORE_ORDER_MS = (60_000, 1_800_000)  # customers sign up 1 to 30 minutes before
_EPOCH = datetime.date(1970, 1, 1)

# Stream keys: the first element of every spawn key says what a stream is for.
_DAYS, _EXTRA, _PRODUCTS, _EXISTING, _DAY, _BLOCK = range(6)

FACTS: Mapping[str, Mapping[str, str]] = {
    Role.CUSTOMER: {
        "cohort": "str: the customer's cohort",
        "locale": "str: the Faker locale of the customer (en_US)",
        "country_code": "str: ISO 3166 country of the locale (US)",
    },
    Role.PRODUCT: {
        "price": "Decimal: list price with two places",
        "price_cents": "int: list price in cents",
        "category": "str: one of the provider's categories",
        "popularity_rank": "int: 1 for the best seller",
    },
    Role.ORDER: {
        "placed_at": "datetime: when the order was placed (its created_at)",
        "status": "str: 'placed' or 'abandoned'",
        "total": "Decimal: sum of the line totals",
        "total_cents": "int: the total in cents",
        "line_count": "int: number of lines",
        "item_quantity": "int: sum of the quantities",
    },
    Role.ORDER_ITEM: {
        "quantity": "int: units ordered",
        "unit_price": "Decimal: price per unit after the day's discount",
        "unit_price_cents": "int: the unit price in cents",
        "line_total": "Decimal: quantity times unit price",
        "line_total_cents": "int: the line total in cents",
        "line_number": "int: position in the order, from 1",
        "discount": "float: the fraction taken off the list price",
    },
}
"""The facts the plan provides per role, for ``Planned(...)`` declarations."""

Int64Array = npt.NDArray[np.int64]
UInt64Array = npt.NDArray[np.uint64]
Float64Array = npt.NDArray[np.float64]
FactSource = Callable[[], list[object]]


def stream(seed: int, *key: int) -> np.random.Generator:
    """Return the random stream of the run ``seed`` for the purpose ``key``."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def largest_remainder(total: int, weights: Float64Array) -> Int64Array:
    """Split ``total`` into integers proportional to ``weights`` that sum exactly to it."""
    weights = np.asarray(weights, dtype=np.float64)
    if total == 0 or weights.sum() <= 0:
        return np.zeros(len(weights), dtype=np.int64)
    exact = weights / weights.sum() * total
    counts = np.floor(exact).astype(np.int64)
    missing = total - int(counts.sum())
    if missing:
        # Ties go to the earlier index (stable sort), so the split is repeatable.
        order = np.argsort(-(exact - counts), kind="stable")
        counts[order[:missing]] += 1
    result: Int64Array = counts
    return result


@dataclass(slots=True)
class Emission:
    """Rows of one role made together, with everything but the application's columns.

    Attributes:
        role: The role of the rows.
        ids: The primary keys, as 32-digit hex strings.
        created: The event times (``created_at`` and ``updated_at``).
        seq_start: The index of the first row among the role's rows in this run.
        refs: Foreign-key targets chosen by the plan (hex ids), by referenced role.
        facts: How to compute each fact (values for ``Planned`` declarations);
            only the facts a factory uses are computed.
        locale_codes: For customers, the index of each row's locale in the
            scenario's locale list.
    """

    role: str
    ids: list[str]
    created: list[datetime.datetime]
    seq_start: int
    refs: dict[str, list[str]] = field(default_factory=dict)
    facts: dict[str, FactSource] = field(default_factory=dict)
    locale_codes: Int64Array | None = None
    _computed: dict[str, list[object]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def fact(self, name: str) -> list[object]:
        """Return the values of fact ``name``, one per row."""
        values = self._computed.get(name)
        if values is None:
            values = self._computed[name] = self.facts[name]()
        return values


class _Customers:
    """The customers acquired so far: id halves and cumulative repeat weights."""

    def __init__(self, capacity: int) -> None:
        self.high = np.zeros(capacity, dtype=np.uint64)
        self.low = np.zeros(capacity, dtype=np.uint64)
        self.cumulative_weight = np.zeros(capacity, dtype=np.float64)
        self.count = 0

    def add(self, high: UInt64Array, low: UInt64Array, weights: Float64Array) -> None:
        start, end = self.count, self.count + len(high)
        self.high[start:end] = high
        self.low[start:end] = low
        before = self.cumulative_weight[start - 1] if start else 0.0
        self.cumulative_weight[start:end] = before + np.cumsum(weights)
        self.count = end

    def pick_repeat(self, prefix: Int64Array, uniform: Float64Array) -> Int64Array:
        """Pick, for each order, a customer among the first ``prefix`` by repeat weight."""
        totals = self.cumulative_weight[prefix - 1]
        targets = uniform * totals
        picked = np.searchsorted(self.cumulative_weight[: self.count], targets, side="right")
        # A prefix of one-time buyers only has no weight: fall back to a uniform pick.
        flat = totals <= 0
        picked[flat] = (uniform[flat] * prefix[flat]).astype(np.int64)
        result: Int64Array = np.minimum(picked, prefix - 1).astype(np.int64)
        return result

    def ids(self, indices: Int64Array) -> list[str]:
        return uuid_hex_from(self.high[indices], self.low[indices])


@dataclass
class _Catalogue:
    """What every pass needs to know about the products."""

    ids: list[str]
    price_cents: Int64Array
    product_of_rank: Int64Array
    rank_cdf: Float64Array
    decimals: dict[int, Decimal]


class _Pass:
    """One run through the plan, emitting the rows of one role."""

    def __init__(self, plan: ScenarioPlan, role: str) -> None:
        self.plan = plan
        self.role = role
        self.sequence = 0
        self.generators = {name: SeededUUIDv7() for name in (*Role, *plan.extra_roles)}

    def emission(
        self,
        high: UInt64Array,
        low: UInt64Array,
        ms: Int64Array,
        created: list[datetime.datetime] | None = None,
    ) -> Emission:
        start = self.sequence
        self.sequence += len(ms)
        return Emission(
            role=self.role,
            ids=uuid_hex_from(high, low),
            created=datetimes_from_ms(ms) if created is None else created,
            seq_start=start,
        )


class ScenarioPlan:
    """Draws a scenario's rows as emissions, one role at a time.

    Args:
        scenario: What to generate.
        scale: The number of orders; the scenario's default when ``None``.
        seed: The seed of every random draw.
        extra_roles: Further roles, made before the others, in this order.
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        scale: int | None,
        seed: int,
        extra_roles: Sequence[str] = (),
    ) -> None:
        self.scenario = scenario
        self.seed = seed
        self.counts: EntityCounts = scenario.counts(scale)
        self.extra_roles = tuple(extra_roles)
        self.locales = tuple(scenario.locales)
        weights = np.array([scenario.locales[name] for name in self.locales], dtype=np.float64)
        self._locale_p = weights / weights.sum()
        self._cohort_names = [cohort.name for cohort in scenario.cohorts]
        shares = np.array([cohort.share for cohort in scenario.cohorts], dtype=np.float64)
        self._cohort_p = shares / shares.sum()
        self._cohort_weight = np.array(
            [cohort.repeat_weight for cohort in scenario.cohorts], dtype=np.float64
        )
        hourly = np.array(scenario.hourly, dtype=np.float64)
        self._hour_p = hourly / hourly.sum()
        self._start_ms = (scenario.start - _EPOCH).days * _DAY_MS
        self._discounts = scenario.daily_discounts()
        self.ids_by_role: dict[str, list[str]] = {}

    @property
    def primary_locale(self) -> str:
        """The locale with the largest weight."""
        return self.locales[int(np.argmax(self._locale_p))]

    @property
    def roles(self) -> tuple[str, ...]:
        """Every role, in the order their rows can be written."""
        return (*self.extra_roles, Role.PRODUCT, Role.CUSTOMER, Role.ORDER, Role.ORDER_ITEM)

    def orders_per_day(self) -> Int64Array:
        """Return the number of orders of each day, summing exactly to the scale."""
        rates = np.array(self.scenario.daily_rates(), dtype=np.float64)
        if self.scenario.noise > 0:
            rates *= stream(self.seed, _DAYS).lognormal(0.0, self.scenario.noise, len(rates))
        return largest_remainder(self.counts.orders, rates)

    def emissions(self, role: str) -> Iterator[Emission]:
        """Yield the rows of ``role``; the roles before it in :attr:`roles` come first.

        Raises:
            ValueError: If the role is not one of :attr:`roles`.
        """
        if role not in self.roles:
            raise ValueError(f"the plan makes no {role!r} rows")
        run = _Pass(self, role)
        if role in self.extra_roles:
            yield from self._extra(run, self.extra_roles.index(role))
            return
        catalogue = self._catalogue(run)
        if role == Role.PRODUCT:
            yield from self._products(run, catalogue)
            return
        customers = _Customers(self.counts.customers)
        yield from self._existing_customers(run, customers)
        per_day = self.orders_per_day()
        new_customers = self.counts.customers - self.counts.existing_customers
        new_per_day = largest_remainder(new_customers, per_day.astype(np.float64))
        days = zip(per_day.tolist(), new_per_day.tolist(), strict=True)
        for day, (orders, new) in enumerate(days):
            if orders:
                yield from self._day(run, catalogue, customers, day=day, orders=orders, new=new)

    # -- reference data and the catalogue ----------------------------------------

    def _before_window(self, rng: np.random.Generator, size: int, days: int) -> Int64Array:
        """Sorted times spread over the ``days`` days before the window opens."""
        offsets = rng.integers(1, days * _DAY_MS, size=size, dtype=np.int64)
        return np.sort(self._start_ms - offsets)

    def _extra(self, run: _Pass, index: int) -> Iterator[Emission]:
        count = self.counts.extra.get(run.role, 0)
        rng = stream(self.seed, _EXTRA, index)
        ms = self._before_window(rng, count, 730)
        ids: list[str] = []
        for start in range(0, count, BLOCK):
            part = ms[start : start + BLOCK]
            high, low = run.generators[run.role].make(part, rng)
            emission = run.emission(high, low, part)
            ids.extend(emission.ids)
            yield emission
        self.ids_by_role[run.role] = ids

    def _catalogue(self, run: _Pass) -> _Catalogue:
        count = self.counts.products
        rng = stream(self.seed, _PRODUCTS)
        self._product_ms = ms = self._before_window(rng, count, 365)
        prices = lognormal_price_cents(
            rng, count, median=self.scenario.price_median, sigma=self.scenario.price_sigma
        )
        # Popularity is unrelated to age or price: rank r goes to a random product.
        self._rank_of_product = rank_of_product = rng.permutation(count).astype(np.int64) + 1
        self._categories = rng.integers(0, len(CATEGORIES), size=count)
        high, low = run.generators[Role.PRODUCT].make(ms, rng)
        self._product_halves = (high, low)
        weights = np.arange(1, count + 1, dtype=np.float64) ** -self.scenario.zipf_exponent
        catalogue = _Catalogue(
            ids=uuid_hex_from(high, low),
            price_cents=prices,
            product_of_rank=np.argsort(rank_of_product, kind="stable").astype(np.int64),
            rank_cdf=np.cumsum(weights) / weights.sum(),
            decimals={},
        )
        self.ids_by_role[Role.PRODUCT] = catalogue.ids
        return catalogue

    def _products(self, run: _Pass, catalogue: _Catalogue) -> Iterator[Emission]:
        ms = self._product_ms
        high, low = self._product_halves
        for start in range(0, len(ms), BLOCK):
            end = min(start + BLOCK, len(ms))
            emission = run.emission(high[start:end], low[start:end], ms[start:end])
            emission.facts = _product_facts(
                catalogue.decimals,
                catalogue.price_cents[start:end],
                self._categories[start:end],
                self._rank_of_product[start:end],
            )
            yield emission

    # -- customers, orders and lines ----------------------------------------------

    def _customers(
        self, run: _Pass, rng: np.random.Generator, ms: Int64Array, customers: _Customers
    ) -> Emission | None:
        """Draw customers signing up at ``ms``; their emission in the customer pass."""
        size = len(ms)
        high, low = run.generators[Role.CUSTOMER].make(ms, rng)
        cohorts = rng.choice(len(self._cohort_names), size=size, p=self._cohort_p)
        locales = rng.choice(len(self.locales), size=size, p=self._locale_p).astype(np.int64)
        customers.add(high, low, self._cohort_weight[cohorts])
        if run.role != Role.CUSTOMER:
            return None
        emission = run.emission(high, low, ms)
        names = self.locales
        cohort_names = self._cohort_names
        emission.facts = {
            "cohort": lambda: [cohort_names[value] for value in cohorts.tolist()],
            "locale": lambda: [names[value] for value in locales.tolist()],
            "country_code": lambda: [names[value].rpartition("_")[2] for value in locales.tolist()],
        }
        emission.locale_codes = locales
        return emission

    def _existing_customers(self, run: _Pass, customers: _Customers) -> Iterator[Emission]:
        count = self.counts.existing_customers
        rng = stream(self.seed, _EXISTING)
        ms = self._before_window(rng, count, 365)
        for start in range(0, count, BLOCK):
            emission = self._customers(run, rng, ms[start : start + BLOCK], customers)
            if emission is not None:
                yield emission

    def _day(
        self,
        run: _Pass,
        catalogue: _Catalogue,
        customers: _Customers,
        *,
        day: int,
        orders: int,
        new: int,
    ) -> Iterator[Emission]:
        rng = stream(self.seed, _DAY, day)
        hours = rng.choice(24, size=orders, p=self._hour_p).astype(np.int64)
        within = rng.integers(0, _HOUR_MS, size=orders, dtype=np.int64)
        ms = np.sort(self._start_ms + day * _DAY_MS + hours * _HOUR_MS + within)
        is_new = np.zeros(orders, dtype=bool)
        is_new[rng.choice(orders, size=new, replace=False)] = True
        if customers.count == 0 and not is_new[0]:
            # Nobody exists yet to place a repeat order: the first order brings a customer.
            is_new[np.flatnonzero(is_new)[-1]] = False
            is_new[0] = True
        for block, start in enumerate(range(0, orders, BLOCK)):
            end = min(start + BLOCK, orders)
            block_rng = stream(self.seed, _BLOCK, day, block)
            customer_of_order, signed_up = self._buyers(
                run, block_rng, ms[start:end], is_new[start:end], customers
            )
            if run.role == Role.CUSTOMER:
                if signed_up is not None:
                    yield signed_up
                continue
            yield from self._orders(
                run,
                block_rng,
                catalogue,
                ms=ms[start:end],
                buyers=partial(customers.ids, customer_of_order),
                discount=self._discounts[day],
            )

    def _buyers(
        self,
        run: _Pass,
        rng: np.random.Generator,
        ms: Int64Array,
        is_new: npt.NDArray[np.bool_],
        customers: _Customers,
    ) -> tuple[Int64Array, Emission | None]:
        """Sign up the block's new customers and pick the buyer of every order.

        Returns:
            The customer index of every order, and the new customers' emission
            in the customer pass.
        """
        size = len(ms)
        acquired_before = customers.count
        new_positions = np.flatnonzero(is_new)
        customer_of_order = np.empty(size, dtype=np.int64)
        signed_up = None
        if len(new_positions):
            # Customers sign up shortly before their first order; they are numbered
            # in sign-up order so that their ids follow their created_at.
            signup = ms[new_positions] - rng.integers(
                *_SIGNUP_BEFORE_ORDER_MS, size=len(new_positions), dtype=np.int64
            )
            order = np.argsort(signup, kind="stable")
            rank = np.empty(len(order), dtype=np.int64)
            rank[order] = np.arange(len(order), dtype=np.int64)
            customer_of_order[new_positions] = acquired_before + rank
            signed_up = self._customers(run, rng, signup[order], customers)
        repeat_positions = np.flatnonzero(~is_new)
        if len(repeat_positions):
            # A repeat order picks among the customers who exist at its time.
            new_before: Int64Array = np.cumsum(is_new, dtype=np.int64) - is_new
            prefix: Int64Array = acquired_before + new_before[repeat_positions]
            customer_of_order[repeat_positions] = customers.pick_repeat(
                prefix, rng.random(len(repeat_positions))
            )
        return customer_of_order, signed_up

    def _orders(
        self,
        run: _Pass,
        rng: np.random.Generator,
        catalogue: _Catalogue,
        *,
        ms: Int64Array,
        buyers: Callable[[], list[str]],
        discount: float,
    ) -> Iterator[Emission]:
        size = len(ms)
        volumes = self.scenario.volumes
        products = self.counts.products
        most_lines = min(volumes.max_lines_per_order, products)
        lines = np.clip(1 + rng.poisson(volumes.lines_per_order - 1, size=size), 1, most_lines)
        order_of_line = np.repeat(np.arange(size, dtype=np.int64), lines)
        ranks = _distinct_ranks(rng, catalogue.rank_cdf, order_of_line, products)
        product_of_line = catalogue.product_of_rank[ranks]
        quantity = np.clip(
            1 + rng.poisson(volumes.mean_extra_quantity, size=len(order_of_line)), 1, _MAX_QUANTITY
        )
        list_cents = catalogue.price_cents[product_of_line]
        unit_cents = np.rint(list_cents * (1.0 - discount)).astype(np.int64)
        line_cents = unit_cents * quantity
        first_line = np.concatenate(([0], np.cumsum(lines)[:-1])).astype(np.int64)
        total_cents = np.add.reduceat(line_cents, first_line)
        abandoned = rng.random(size) < self.scenario.abandonment_rate
        order_high, order_low = run.generators[Role.ORDER].make(ms, rng)
        decimals = catalogue.decimals
        if run.role == Role.ORDER:
            orders = run.emission(order_high, order_low, ms)
            orders.refs = {Role.CUSTOMER: buyers()}
            placed_at = orders.created
            orders.facts = {
                "placed_at": lambda: list(placed_at),
                "status": lambda: [
                    "abandoned" if flag else "placed" for flag in abandoned.tolist()
                ],
                "total": lambda: _decimals(decimals, total_cents, remember=False),
                "total_cents": total_cents.tolist,
                "line_count": lines.tolist,
                "item_quantity": lambda: np.add.reduceat(quantity, first_line).tolist(),
            }
            yield orders
            return
        line_ms = ms[order_of_line]
        high, low = run.generators[Role.ORDER_ITEM].make(line_ms, rng)
        line_of_order = order_of_line.tolist()
        placed = datetimes_from_ms(ms)
        # An item is written with its order: same transaction, same created_at.
        items = run.emission(high, low, line_ms, [placed[index] for index in line_of_order])
        order_ids = uuid_hex_from(order_high, order_low)
        product_ids = catalogue.ids
        items.refs = {
            Role.ORDER: [order_ids[index] for index in line_of_order],
            Role.PRODUCT: [product_ids[index] for index in product_of_line.tolist()],
        }
        lines_total = len(line_of_order)
        items.facts = {
            "quantity": quantity.tolist,
            "unit_price": lambda: _decimals(decimals, unit_cents),
            "unit_price_cents": unit_cents.tolist,
            "line_total": lambda: _decimals(decimals, line_cents, remember=False),
            "line_total_cents": line_cents.tolist,
            "line_number": (np.arange(lines_total) - first_line[order_of_line] + 1).tolist,
            "discount": lambda: [discount] * lines_total,
        }
        yield items


def _distinct_ranks(
    rng: np.random.Generator, cdf: Float64Array, order_of_line: Int64Array, products: int
) -> Int64Array:
    """Draw a popularity rank per line, never the same product twice in one order."""
    ranks = np.minimum(np.searchsorted(cdf, rng.random(len(order_of_line))), products - 1)
    for _ in range(64):
        key = order_of_line * products + ranks
        order = np.argsort(key, kind="stable")
        repeated = order[1:][key[order][1:] == key[order][:-1]]
        if not len(repeated):
            return ranks.astype(np.int64)
        ranks[repeated] = np.minimum(np.searchsorted(cdf, rng.random(len(repeated))), products - 1)
    return _spread_leftovers(order_of_line, ranks.astype(np.int64), products)


def _product_facts(
    decimals: dict[int, Decimal],
    cents: Int64Array,
    categories: Int64Array,
    ranks: Int64Array,
) -> dict[str, FactSource]:
    def price() -> list[object]:
        return _decimals(decimals, cents)

    def price_cents() -> list[object]:
        return list(cents.tolist())

    def category() -> list[object]:
        return [CATEGORIES[value] for value in categories.tolist()]

    def popularity_rank() -> list[object]:
        return list(ranks.tolist())

    return {
        "price": price,
        "price_cents": price_cents,
        "category": category,
        "popularity_rank": popularity_rank,
    }


def _spread_leftovers(order_of_line: Int64Array, ranks: Int64Array, products: int) -> Int64Array:
    # Only tiny catalogues with long orders get here: give each duplicate the most
    # popular rank its order does not have yet.
    seen: dict[int, set[int]] = {}
    result = ranks.copy()
    pairs = zip(order_of_line.tolist(), ranks.tolist(), strict=True)
    for position, (order, drawn) in enumerate(pairs):
        taken = seen.setdefault(order, set())
        rank = drawn
        if rank in taken:
            rank = next(candidate for candidate in range(products) if candidate not in taken)
            result[position] = rank
        taken.add(rank)
    return result


def _decimals(
    known: dict[int, Decimal], cents: Int64Array, *, remember: bool = True
) -> list[object]:
    """Return amounts in cents as Decimals, making one object per distinct amount."""
    distinct, position = np.unique(cents, return_inverse=True)
    values = [_decimal(known, value, remember=remember) for value in distinct.tolist()]
    return [values[index] for index in position.tolist()]


def _decimal(known: dict[int, Decimal], cents: int, *, remember: bool = True) -> Decimal:
    # List prices repeat (charm prices are few), totals rarely do: only the former
    # are worth keeping.
    value = known.get(cents)
    if value is None:
        value = cents_to_decimal(cents)
        if remember:
            known[cents] = value
    return value
