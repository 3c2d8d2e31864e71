"""The generated data has the scenario's shape, measured with SQL on what was loaded."""

from __future__ import annotations

import datetime
import statistics
from collections.abc import Iterator

import numpy as np
import pytest

from fastapi_chassis.synthetic import BLACK_FRIDAY, STEADY, BulkLoader, Scenario, black_friday
from fastapi_chassis.testing.postgres import ServerHandle, run_sync, with_database
from tests.synthetic.conftest import create_shop_schema, query, scalar
from tests.synthetic.factories import SHOP_FACTORIES

pytestmark = [pytest.mark.db, pytest.mark.asyncio]

SCALE = 20_000


def _loaded(server: ServerHandle, scenario: Scenario) -> Iterator[str]:
    with with_database(server.url, prefix="chassis_syn") as url:
        run_sync(lambda: create_shop_schema(url))
        run_sync(lambda: BulkLoader(url, SHOP_FACTORIES).load(scenario, scale=SCALE, seed=5))
        yield url


@pytest.fixture(scope="module")
def black_friday_url(chassis_postgres: ServerHandle) -> Iterator[str]:
    yield from _loaded(chassis_postgres, BLACK_FRIDAY)


@pytest.fixture(scope="module")
def steady_url(chassis_postgres: ServerHandle) -> Iterator[str]:
    yield from _loaded(chassis_postgres, STEADY)


async def _orders_per_day(url: str) -> dict[datetime.date, int]:
    rows = await query(
        url,
        "SELECT (created_at AT TIME ZONE 'UTC')::date AS day, count(*) AS orders "
        "FROM syn_orders GROUP BY 1 ORDER BY 1",
    )
    return {row.day: row.orders for row in rows}


async def test_black_friday_is_several_times_the_median_day(black_friday_url: str) -> None:
    per_day = await _orders_per_day(black_friday_url)
    median = statistics.median(per_day.values())
    friday = black_friday(2024)
    assert per_day[friday] > 4 * median
    assert per_day[friday + datetime.timedelta(days=3)] > 3 * median  # Cyber Monday
    # Christmas is a dip, the first weeks of December a plateau above the median.
    assert per_day[datetime.date(2024, 12, 25)] < median
    assert max(per_day, key=per_day.__getitem__) == friday


async def test_black_friday_discounts_the_lines_of_that_day(black_friday_url: str) -> None:
    rows = await query(
        black_friday_url,
        "SELECT (o.created_at AT TIME ZONE 'UTC')::date = :friday AS on_friday, "
        "avg(i.unit_price / p.price) AS paid "
        "FROM syn_order_items i JOIN syn_orders o ON o.id = i.order_id "
        "JOIN syn_products p ON p.id = i.product_id GROUP BY 1",
        friday=black_friday(2024),
    )
    paid = {row.on_friday: float(row.paid) for row in rows}
    assert paid[True] == pytest.approx(0.75, abs=0.01)
    assert paid[False] < 1.0  # the weekend and Cyber Monday have discounts too
    assert paid[False] > 0.95


async def test_weekly_seasonality_is_visible(steady_url: str) -> None:
    rows = await query(
        steady_url,
        "SELECT extract(isodow FROM created_at AT TIME ZONE 'UTC')::int AS weekday, "
        "count(*) AS orders FROM syn_orders GROUP BY 1 ORDER BY 1",
    )
    per_weekday = {row.weekday: row.orders for row in rows}
    assert min(per_weekday, key=per_weekday.__getitem__) == 6  # Saturday
    assert max(per_weekday, key=per_weekday.__getitem__) == 1  # Monday
    assert per_weekday[1] / per_weekday[6] > 1.25


async def test_orders_follow_the_hours_of_the_day(steady_url: str) -> None:
    rows = await query(
        steady_url,
        "SELECT extract(hour FROM created_at AT TIME ZONE 'UTC')::int AS hour, count(*) AS n "
        "FROM syn_orders GROUP BY 1",
    )
    per_hour = {row.hour: row.n for row in rows}
    assert per_hour[21] > 10 * per_hour[3]


async def test_product_popularity_is_zipf_like(steady_url: str) -> None:
    rows = await query(
        steady_url,
        "SELECT count(*) AS sold FROM syn_order_items GROUP BY product_id ORDER BY sold DESC",
    )
    sold = np.array([row.sold for row in rows], dtype=np.float64)
    # Fit log(sales) = c - s * log(rank) over the products that sold often
    # enough for their count to mean something.
    ranks = np.arange(1, len(sold) + 1, dtype=np.float64)
    head = sold >= 10
    slope, _ = np.polyfit(np.log(ranks[head]), np.log(sold[head]), 1)
    assert -slope == pytest.approx(STEADY.zipf_exponent, abs=0.2)
    assert sold[0] > 20 * np.median(sold)


async def test_cohorts_repeat_as_declared(steady_url: str) -> None:
    rows = await query(
        steady_url,
        "SELECT c.cohort, count(o.id)::float / count(DISTINCT c.id) AS per_customer, "
        "max(coalesce(n.orders, 0)) AS most "
        "FROM syn_customers c LEFT JOIN syn_orders o ON o.customer_id = c.id "
        "LEFT JOIN (SELECT customer_id, count(*) AS orders FROM syn_orders GROUP BY 1) n "
        "ON n.customer_id = c.id GROUP BY c.cohort",
    )
    cohorts = {row.cohort: row for row in rows}
    assert set(cohorts) == {"one-time", "occasional", "loyal"}
    assert cohorts["one-time"].most <= 1
    assert cohorts["loyal"].per_customer > 3 * cohorts["occasional"].per_customer
    shares = await query(
        steady_url,
        "SELECT cohort, count(*)::float / sum(count(*)) OVER () AS share "
        "FROM syn_customers GROUP BY cohort",
    )
    declared = {cohort.name: cohort.share for cohort in STEADY.cohorts}
    assert {row.cohort: row.share for row in shares} == pytest.approx(declared, abs=0.03)


async def test_abandoned_carts_are_about_the_declared_share(steady_url: str) -> None:
    abandoned = await scalar(
        steady_url, "SELECT avg((status = 'abandoned')::int)::float FROM syn_orders"
    )
    assert abandoned == pytest.approx(STEADY.abandonment_rate, abs=0.02)


async def test_most_orders_come_from_returning_customers(steady_url: str) -> None:
    repeat = await scalar(
        steady_url,
        "SELECT avg((n > 1)::int)::float FROM "
        "(SELECT count(*) AS n FROM syn_orders GROUP BY customer_id) per_customer",
    )
    assert 0.2 < float(repeat) < 0.8  # type: ignore[arg-type]
