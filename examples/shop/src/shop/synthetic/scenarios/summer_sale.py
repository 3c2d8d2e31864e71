"""``summer-sale``: two quiet weeks around a two-day sale at 20 % off."""

import datetime

from fastapi_chassis.synthetic import Scenario, Spike

SUMMER_SALE = Scenario(
    name="summer-sale",
    description="Two weeks of July around a two-day sale at 20 % off and 3.5 times the rate.",
    start=datetime.date(2025, 7, 1),
    days=14,
    daily_orders=800,
    spikes=(Spike(name="summer-sale", on="07-08", days=2, multiplier=3.5, discount=0.2),),
    locales={"en_GB": 0.5, "fr_FR": 0.25, "de_DE": 0.25},
)
