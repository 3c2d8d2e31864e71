"""Scenarios: validation, calendars, volumes; no database."""

from __future__ import annotations

import datetime
import statistics

import pytest
from pydantic import ValidationError

from fastapi_chassis.synthetic import (
    BLACK_FRIDAY,
    BUILTIN_SCENARIOS,
    SEASONAL,
    STEADY,
    CustomerCohort,
    Scenario,
    Spike,
    Volumes,
    black_friday,
)


def test_the_builtins_are_steady_seasonal_and_black_friday() -> None:
    assert [scenario.name for scenario in BUILTIN_SCENARIOS] == [
        "steady",
        "seasonal",
        "black-friday",
    ]


def test_a_scenario_needs_only_a_name_and_reads_as_the_hook_documentation_shows() -> None:
    scenario = Scenario(name="summer-sale", days=14, daily_orders=800)
    assert scenario.default_scale == pytest.approx(14 * 800, rel=0.01)
    assert scenario.end == scenario.start + datetime.timedelta(days=13)


@pytest.mark.parametrize(
    ("year", "day"),
    [
        (2023, datetime.date(2023, 11, 24)),
        (2024, datetime.date(2024, 11, 29)),
        (2025, datetime.date(2025, 11, 28)),
    ],
)
def test_black_friday_is_the_day_after_the_fourth_thursday_of_november(
    year: int, day: datetime.date
) -> None:
    assert black_friday(year) == day
    assert day.weekday() == 4


def test_black_friday_multiplies_its_day_several_times_over_the_median_day() -> None:
    rates = BLACK_FRIDAY.daily_rates()
    index = (black_friday(2024) - BLACK_FRIDAY.start).days
    assert rates[index] > 4 * statistics.median(rates)
    cyber_monday = index + 3
    assert rates[cyber_monday] > 3 * statistics.median(rates)


def test_the_ramp_rises_towards_the_spike() -> None:
    rates = BLACK_FRIDAY.daily_rates()
    index = (black_friday(2024) - BLACK_FRIDAY.start).days
    # Weekday and month change the rate too: divide by the rate without spikes.
    plain = BLACK_FRIDAY.model_copy(update={"spikes": ()}).daily_rates()
    factors = [rates[day] / plain[day] for day in range(index - 5, index + 1)]
    assert factors == sorted(factors)
    assert factors[0] > 1


def test_steady_has_a_weekly_rhythm_and_nothing_else() -> None:
    rates = STEADY.daily_rates()
    by_weekday = [rates[day::7] for day in range(7)]
    # STEADY starts on a Monday: every weekday keeps one rate.
    assert all(len(set(values)) == 1 for values in by_weekday)
    assert rates[5] == min(rates[:7])  # Saturday
    assert rates[0] == max(rates[:7])  # Monday


def test_yearly_seasonality_peaks_in_december_and_dips_in_february() -> None:
    plain = SEASONAL.model_copy(update={"spikes": (), "weekly": (1.0,) * 7}).daily_rates()
    february = statistics.mean(plain[31:59])
    december = statistics.mean(plain[335:358])
    assert december > 1.5 * february


def test_overlapping_spikes_multiply_and_dips_lower_the_rate() -> None:
    scenario = Scenario(
        name="overlap",
        start=datetime.date(2024, 12, 20),
        days=10,
        weekly=(1.0,) * 7,
        spikes=(
            Spike(name="season", on="12-20", days=10, multiplier=2.0),
            Spike(name="christmas", on="12-25", multiplier=0.5),
        ),
    )
    rates = scenario.daily_rates()
    assert rates[0] == pytest.approx(2 * scenario.daily_orders, rel=0.05)
    assert rates[5] == pytest.approx(rates[4] * 0.5, rel=0.05)


def test_one_off_spikes_apply_in_their_year_only() -> None:
    scenario = Scenario(
        name="launch",
        start=datetime.date(2024, 6, 1),
        days=400,
        weekly=(1.0,) * 7,
        spikes=(Spike(name="launch", on="2024-06-10", multiplier=3.0, discount=0.1),),
    )
    rates = scenario.daily_rates()
    assert rates[9] > 2.5 * rates[8]
    assert rates[9 + 365] < 1.5 * rates[8 + 365]
    assert scenario.daily_discounts()[9] == 0.1
    assert scenario.daily_discounts()[8] == 0


@pytest.mark.parametrize("anchor", ["black-saturday", "13-01", "2024-02-30", ""])
def test_spike_anchors_are_validated(anchor: str) -> None:
    with pytest.raises(ValidationError):
        Spike(name="x", on=anchor, multiplier=2)


@pytest.mark.parametrize(
    "changes",
    [
        {"name": "Not A Slug"},
        {"weekly": (1.0,) * 6},
        {"hourly": (0.0,) * 24},
        {"cohorts": (CustomerCohort(name="once", share=1, repeat_weight=0),)},
        {"cohorts": ()},
        {"locales": {}},
        {"abandonment_rate": 1.0},
        {"volumes": {"min_products": 10, "max_products": 5}},
        {"surprise": 1},
    ],
)
def test_invalid_scenarios_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Scenario.model_validate({"name": "x", **changes})


def test_scenarios_are_immutable() -> None:
    with pytest.raises(ValidationError):
        STEADY.days = 3


def test_volumes_follow_the_scale_in_orders() -> None:
    counts = BLACK_FRIDAY.counts(100_000)
    assert counts.orders == 100_000
    assert counts.customers == 35_000
    assert counts.existing_customers == 10_500
    assert counts.products == 2_000
    assert counts.expected_order_items == 240_000
    assert counts.expected_total == 100_000 + 35_000 + 2_000 + 240_000


def test_small_scales_keep_a_usable_catalogue_and_at_least_one_customer() -> None:
    counts = STEADY.counts(1)
    assert counts.orders == 1
    assert counts.customers == 1
    assert counts.products == Volumes().min_products
    with pytest.raises(ValueError, match="at least 1"):
        STEADY.counts(0)


def test_without_a_scale_the_scenario_makes_its_own_volume() -> None:
    assert STEADY.counts().orders == STEADY.default_scale == round(sum(STEADY.daily_rates()))
