"""Scenarios: declarative descriptions of the data to generate over a time window.

A :class:`Scenario` says how many orders arrive per day and why (a baseline rate
shaped by weekly, yearly and hourly seasonality and by spikes such as Black
Friday), which products sell (Zipf-distributed popularity), who buys (customer
cohorts with their repeat-purchase behaviour), how many carts are abandoned, and
how the other volumes follow from the number of orders. It names roles, not
models: the application binds each role to one of its factories (see
:mod:`fastapi_chassis.synthetic.roles`).

The size of a run is its number of orders, the *scale*: customers, products and
order lines derive from it through :class:`Volumes`. Without a scale, a scenario
makes ``daily_orders`` per day shaped by its seasonality, over ``days`` days.

Scenarios are immutable pydantic models; their time window is fixed (no "today"),
so the same scenario, scale and seed always describe the same data. All times are
UTC.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Mapping
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "BLACK_FRIDAY",
    "BUILTIN_SCENARIOS",
    "DEFAULT_COHORTS",
    "DEFAULT_HOURLY",
    "DEFAULT_WEEKLY",
    "SEASONAL",
    "STEADY",
    "CustomerCohort",
    "EntityCounts",
    "Scenario",
    "Spike",
    "Volumes",
    "black_friday",
]

_FROZEN = ConfigDict(frozen=True, extra="forbid")
_MONTH_DAY = re.compile(r"(?P<month>\d\d)-(?P<day>\d\d)")
_NAMED_ANCHORS = ("black-friday", "cyber-monday")
_THURSDAY = 3
_NOVEMBER = 11

Multiplier = Annotated[float, Field(ge=0)]


def black_friday(year: int) -> datetime.date:
    """Return Black Friday of ``year``: the day after the fourth Thursday of November.

    Example:
        >>> black_friday(2024)
        datetime.date(2024, 11, 29)
    """
    first = datetime.date(year, _NOVEMBER, 1)
    first_thursday = first + datetime.timedelta(days=(_THURSDAY - first.weekday()) % 7)
    return first_thursday + datetime.timedelta(days=22)


class Spike(BaseModel):
    """A recurring or one-off change of the order rate: a sale, a holiday, a dip.

    Attributes:
        name: What the spike is (shown in descriptions).
        on: When it starts: ``"black-friday"`` or ``"cyber-monday"`` (every year
            in the window), ``"MM-DD"`` (every year) or ``"YYYY-MM-DD"`` (once).
        offset_days: Days added to ``on`` (``on="black-friday", offset_days=1``
            is the Saturday after).
        days: How many days it lasts.
        multiplier: The order rate during the spike, relative to the rate without
            it (below 1 for a dip). Overlapping spikes multiply.
        ramp_days: Days before the start over which the rate rises linearly
            towards ``multiplier`` (the run-up to a sale).
        discount: The fraction taken off list prices during the spike (order
            lines then carry the discounted unit price).
    """

    model_config = _FROZEN

    name: str
    on: str
    offset_days: int = 0
    days: int = Field(default=1, ge=1, le=366)
    multiplier: float = Field(gt=0)
    ramp_days: int = Field(default=0, ge=0, le=60)
    discount: float = Field(default=0.0, ge=0, lt=1)

    @field_validator("on")
    @classmethod
    def _check_anchor(cls, value: str) -> str:
        if value in _NAMED_ANCHORS:
            return value
        match = _MONTH_DAY.fullmatch(value)
        if match:
            # 2024 is a leap year, so 02-29 passes here (and applies only in leap years).
            datetime.date(2024, int(match["month"]), int(match["day"]))
            return value
        try:
            datetime.date.fromisoformat(value)
        except ValueError:
            raise ValueError(
                f"{value!r} is not 'black-friday', 'cyber-monday', 'MM-DD' or 'YYYY-MM-DD'"
            ) from None
        return value

    def starts(self, first: datetime.date, last: datetime.date) -> list[datetime.date]:
        """Return the days the spike starts on that fall near the window ``first..last``.

        Starts just outside the window are included when the spike or its ramp
        reaches into it.
        """
        candidates: list[datetime.date] = []
        for year in range(first.year - 1, last.year + 2):
            anchor = self._anchor(year)
            if anchor is not None:
                candidates.append(anchor + datetime.timedelta(days=self.offset_days))
        reach_before = datetime.timedelta(days=self.days)
        reach_after = datetime.timedelta(days=self.ramp_days)
        return [day for day in candidates if first - reach_before < day <= last + reach_after]

    def _anchor(self, year: int) -> datetime.date | None:
        if self.on == "black-friday":
            return black_friday(year)
        if self.on == "cyber-monday":
            return black_friday(year) + datetime.timedelta(days=3)
        match = _MONTH_DAY.fullmatch(self.on)
        if match:
            try:
                return datetime.date(year, int(match["month"]), int(match["day"]))
            except ValueError:  # 02-29 outside leap years
                return None
        once = datetime.date.fromisoformat(self.on)
        return once if once.year == year else None


class CustomerCohort(BaseModel):
    """A group of customers who buy alike.

    Attributes:
        name: The cohort's name; customers carry it as the ``cohort`` fact.
        share: The fraction of customers in the cohort (shares are normalised).
        repeat_weight: How likely a repeat order is to come from one of these
            customers, relative to the other cohorts. 0 makes one-time buyers.
    """

    model_config = _FROZEN

    name: str
    share: float = Field(gt=0)
    repeat_weight: float = Field(ge=0)


class Volumes(BaseModel):
    """How the number of customers, products and order lines follow from the scale.

    Attributes:
        customers_per_order: Customers per order (0.35: each customer orders
            about three times).
        existing_customer_share: The fraction of customers who signed up before
            the window starts; the others sign up with their first order.
        products_per_order: Catalogue size per order, kept between
            ``min_products`` and ``max_products``.
        min_products: The smallest catalogue.
        max_products: The largest catalogue.
        lines_per_order: The mean number of lines per order (at least 1).
        max_lines_per_order: The most lines one order has.
        mean_extra_quantity: The mean quantity per line above 1.
        extra: Rows of further roles (reference data such as ``"category"``),
            made before the products and customers; foreign keys to them are
            drawn uniformly.
    """

    model_config = _FROZEN

    customers_per_order: float = Field(default=0.35, gt=0, le=1)
    existing_customer_share: float = Field(default=0.3, ge=0, lt=1)
    products_per_order: float = Field(default=0.02, gt=0)
    min_products: int = Field(default=50, ge=1)
    max_products: int = Field(default=20_000, ge=1)
    lines_per_order: float = Field(default=2.4, ge=1)
    max_lines_per_order: int = Field(default=8, ge=1, le=100)
    mean_extra_quantity: float = Field(default=0.3, ge=0)
    extra: Mapping[str, Annotated[int, Field(ge=1)]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_bounds(self) -> Volumes:
        if self.min_products > self.max_products:
            raise ValueError("min_products must not exceed max_products")
        return self


class EntityCounts(BaseModel):
    """The rows a scenario makes at one scale (order lines are an expectation).

    Attributes:
        orders: Orders (the scale).
        customers: Customers, of whom ``existing_customers`` signed up before the
            window.
        existing_customers: Customers who exist when the window opens.
        products: Products in the catalogue.
        expected_order_items: The expected number of order lines.
        extra: Rows of further roles.
    """

    model_config = _FROZEN

    orders: int
    customers: int
    existing_customers: int
    products: int
    expected_order_items: int
    extra: Mapping[str, int]

    @property
    def expected_total(self) -> int:
        """All rows, with the expected number of order lines."""
        return (
            self.orders
            + self.customers
            + self.products
            + self.expected_order_items
            + sum(self.extra.values())
        )


DEFAULT_WEEKLY: tuple[float, ...] = (1.12, 1.06, 1.02, 1.0, 0.92, 0.8, 1.08)
"""Order rate by weekday, Monday first: busy on Sunday evening and Monday, quiet on Saturday."""

DEFAULT_HOURLY: tuple[float, ...] = (
    0.35, 0.2, 0.12, 0.1, 0.1, 0.15, 0.35, 0.6, 0.85, 1.0, 1.1, 1.15,
    1.25, 1.2, 1.1, 1.05, 1.1, 1.2, 1.35, 1.55, 1.75, 1.8, 1.4, 0.8,
)  # fmt: skip
"""Order rate by hour of the day (UTC): a night trough and an evening peak."""

DEFAULT_COHORTS: tuple[CustomerCohort, ...] = (
    CustomerCohort(name="one-time", share=0.45, repeat_weight=0.0),
    CustomerCohort(name="occasional", share=0.4, repeat_weight=1.0),
    CustomerCohort(name="loyal", share=0.15, repeat_weight=6.0),
)
"""Almost half the customers never come back; a loyal sixth places most repeat orders."""

_SLUG = r"^[a-z0-9][a-z0-9-]*$"


class Scenario(BaseModel):
    """What to generate over a time window, independent of the application's models.

    Only ``name`` is required; every other field has a realistic default::

        Scenario(name="summer-sale", days=14, daily_orders=800)

    Attributes:
        name: The identifier used on the command line and in the REST API
            (lower case letters, digits and dashes).
        description: One line shown by ``chassis synth list``.
        start: The first day of the window.
        days: The length of the window in days.
        daily_orders: The baseline: orders on an average day before seasonality
            and spikes. With ``days`` it sets the default scale.
        weekly: The rate by weekday, Monday first (normalised to a mean of 1).
        monthly: Yearly seasonality: the rate by month, January first
            (normalised to a mean of 1 and interpolated between mid-months).
        hourly: The rate by hour of the day (UTC) for placing orders in a day.
        spikes: Sales, holidays and dips.
        noise: Day-to-day variation: the standard deviation of a log-normal
            factor on each day's rate.
        zipf_exponent: Product popularity: the product of popularity rank ``r``
            sells in proportion to ``1 / r ** zipf_exponent``.
        cohorts: Customer cohorts and their repeat-purchase behaviour.
        abandonment_rate: The fraction of orders that are abandoned carts
            (status ``"abandoned"``).
        locales: Faker locales of the customers, with their weights: customers
            get names, addresses and phone numbers of their locale.
        price_median: The median list price, in currency units.
        price_sigma: The spread of list prices (standard deviation of their
            logarithm).
        volumes: How other volumes follow from the number of orders.
    """

    model_config = _FROZEN

    name: str = Field(pattern=_SLUG, max_length=64)
    description: str = ""
    start: datetime.date = datetime.date(2024, 1, 1)
    days: int = Field(default=90, ge=1, le=3660)
    daily_orders: float = Field(default=1000.0, gt=0)
    weekly: tuple[Multiplier, ...] = DEFAULT_WEEKLY
    monthly: tuple[Multiplier, ...] = (1.0,) * 12
    hourly: tuple[Multiplier, ...] = DEFAULT_HOURLY
    spikes: tuple[Spike, ...] = ()
    noise: float = Field(default=0.05, ge=0, le=1)
    zipf_exponent: float = Field(default=1.1, gt=0, le=4)
    cohorts: tuple[CustomerCohort, ...] = DEFAULT_COHORTS
    abandonment_rate: float = Field(default=0.2, ge=0, lt=1)
    locales: Mapping[str, Annotated[float, Field(gt=0)]] = Field(
        default_factory=lambda: {"en_US": 1.0}
    )
    price_median: float = Field(default=24.0, gt=0)
    price_sigma: float = Field(default=0.9, ge=0, le=3)
    volumes: Volumes = Field(default_factory=Volumes)

    @model_validator(mode="after")
    def _check_profiles(self) -> Scenario:
        for field, size in (("weekly", 7), ("monthly", 12), ("hourly", 24)):
            profile = getattr(self, field)
            if len(profile) != size or sum(profile) <= 0:
                raise ValueError(f"{field} needs {size} non-negative values, not all zero")
        if not self.cohorts:
            raise ValueError("a scenario needs at least one customer cohort")
        if all(cohort.repeat_weight == 0 for cohort in self.cohorts):
            raise ValueError("at least one cohort needs a repeat_weight above 0")
        if len({cohort.name for cohort in self.cohorts}) != len(self.cohorts):
            raise ValueError("cohort names must be distinct")
        if not self.locales:
            raise ValueError("a scenario needs at least one locale")
        return self

    @property
    def end(self) -> datetime.date:
        """The last day of the window."""
        return self.start + datetime.timedelta(days=self.days - 1)

    def daily_rates(self) -> list[float]:
        """Return the expected orders of each day of the window, before day-to-day noise."""
        weekly = _normalised(self.weekly)
        monthly = _normalised(self.monthly)
        factors = self._spike_factors()
        rates = []
        for index in range(self.days):
            day = self.start + datetime.timedelta(days=index)
            rate = self.daily_orders * weekly[day.weekday()] * _yearly(monthly, day)
            rates.append(rate * factors.get(day, 1.0))
        return rates

    def daily_discounts(self) -> list[float]:
        """Return the discount in force on each day of the window (the largest spike's)."""
        discounts = [0.0] * self.days
        for spike in self.spikes:
            if spike.discount == 0:
                continue
            for start in spike.starts(self.start, self.end):
                for offset in range(spike.days):
                    index = (start - self.start).days + offset
                    if 0 <= index < self.days:
                        discounts[index] = max(discounts[index], spike.discount)
        return discounts

    def _spike_factors(self) -> dict[datetime.date, float]:
        factors: dict[datetime.date, float] = {}
        for spike in self.spikes:
            for start in spike.starts(self.start, self.end):
                for offset in range(spike.days):
                    day = start + datetime.timedelta(days=offset)
                    factors[day] = factors.get(day, 1.0) * spike.multiplier
                for step in range(1, spike.ramp_days + 1):
                    day = start - datetime.timedelta(days=step)
                    level = 1 + (spike.multiplier - 1) * (spike.ramp_days + 1 - step) / (
                        spike.ramp_days + 1
                    )
                    factors[day] = factors.get(day, 1.0) * level
        return factors

    @property
    def default_scale(self) -> int:
        """The number of orders the scenario makes when no scale is given."""
        return max(1, round(sum(self.daily_rates())))

    def counts(self, scale: int | None = None) -> EntityCounts:
        """Return the rows the scenario makes with ``scale`` orders.

        Args:
            scale: The number of orders; the scenario's default scale when ``None``.

        Raises:
            ValueError: If ``scale`` is below 1.
        """
        orders = self.default_scale if scale is None else scale
        if orders < 1:
            raise ValueError(f"the scale is a number of orders, at least 1, not {orders}")
        volumes = self.volumes
        customers = min(orders, max(1, round(orders * volumes.customers_per_order)))
        existing = min(customers, max(1, round(customers * volumes.existing_customer_share)))
        products = round(orders * volumes.products_per_order)
        products = min(max(products, volumes.min_products), volumes.max_products)
        lines = min(volumes.lines_per_order, volumes.max_lines_per_order, products)
        return EntityCounts(
            orders=orders,
            customers=customers,
            existing_customers=existing,
            products=products,
            expected_order_items=round(orders * lines),
            extra=dict(volumes.extra),
        )


def _normalised(profile: tuple[float, ...]) -> list[float]:
    mean = sum(profile) / len(profile)
    return [value / mean for value in profile]


def _yearly(monthly: list[float], day: datetime.date) -> float:
    # Each month's factor holds at its middle; days in between are interpolated,
    # so the rate has no steps at month boundaries.
    position = (day.timetuple().tm_yday - 15.2) / (365.25 / 12)
    below = math.floor(position)
    fraction = position - below
    return monthly[below % 12] * (1 - fraction) + monthly[(below + 1) % 12] * fraction


_YEARLY_RETAIL = (0.85, 0.8, 0.9, 0.95, 1.0, 0.95, 0.9, 0.92, 1.0, 1.05, 1.25, 1.45)

STEADY = Scenario(
    name="steady",
    description="Thirteen weeks of ordinary trade: a weekly rhythm and nothing else.",
    start=datetime.date(2024, 3, 4),
    days=91,
    daily_orders=1000,
)
"""Thirteen weeks with weekly seasonality only."""

SEASONAL = Scenario(
    name="seasonal",
    description="A year of trade: quiet February, busy November and December, holiday dips.",
    start=datetime.date(2024, 1, 1),
    days=366,
    daily_orders=800,
    monthly=_YEARLY_RETAIL,
    spikes=(
        Spike(name="black-friday", on="black-friday", multiplier=2.5, discount=0.2),
        Spike(name="cyber-monday", on="cyber-monday", multiplier=2.0, discount=0.15),
        Spike(name="christmas", on="12-24", days=3, multiplier=0.45),
        Spike(name="new-year", on="01-01", multiplier=0.6),
    ),
)
"""A calendar year with yearly and weekly seasonality and moderate holiday effects."""

BLACK_FRIDAY = Scenario(
    name="black-friday",
    description="September to December with a Black Friday weekend, Cyber Monday and holidays.",
    start=datetime.date(2024, 9, 1),
    days=122,
    daily_orders=1000,
    monthly=_YEARLY_RETAIL,
    abandonment_rate=0.25,
    locales={"en_US": 0.55, "en_GB": 0.2, "de_DE": 0.15, "fr_FR": 0.1},
    spikes=(
        Spike(name="black-friday", on="black-friday", multiplier=6.0, ramp_days=5, discount=0.25),
        Spike(
            name="black-friday-weekend",
            on="black-friday",
            offset_days=1,
            days=2,
            multiplier=2.5,
            discount=0.2,
        ),
        Spike(name="cyber-monday", on="cyber-monday", multiplier=4.5, discount=0.2),
        Spike(name="holiday-season", on="12-05", days=15, multiplier=1.4),
        Spike(name="christmas", on="12-24", days=3, multiplier=0.4),
    ),
)
"""The autumn peak: Black Friday at six times the rate around it, Cyber Monday, holidays."""

BUILTIN_SCENARIOS: tuple[Scenario, ...] = (STEADY, SEASONAL, BLACK_FRIDAY)
"""The scenarios every application has: ``steady``, ``seasonal`` and ``black-friday``."""
