"""The shop's own scenarios, next to the chassis's built-in ones.

The built-ins (``steady``, ``seasonal``, ``black-friday``) need nothing from the
shop but its factories; :data:`SCENARIOS` adds what only this shop runs.
"""

from fastapi_chassis.synthetic import Scenario

from shop.synthetic.scenarios.summer_sale import SUMMER_SALE

SCENARIOS: list[Scenario] = [SUMMER_SALE]
"""What the plugin's ``chassis_scenarios`` hook returns."""

__all__ = ["SCENARIOS", "SUMMER_SALE"]
