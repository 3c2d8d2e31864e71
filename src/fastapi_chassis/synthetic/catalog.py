"""The scenarios and role bindings an application's plugins contribute.

Scenarios come from the ``chassis_scenarios`` hook (the built-in plugin
contributes ``steady``, ``seasonal`` and ``black-friday``); a later plugin may
replace an earlier one's scenario by using its name. Role bindings come from
the ``chassis_factories`` hook; later plugins override earlier ones role by role.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from fastapi_chassis.synthetic.errors import RoleBindingError, SyntheticDataError, UnknownScenario
from fastapi_chassis.synthetic.scenarios import Scenario

if TYPE_CHECKING:
    from fastapi_chassis.plugins.manager import ChassisPluginManager

__all__ = ["find_scenario", "role_factories", "scenario_catalog"]


def scenario_catalog(plugins: ChassisPluginManager) -> dict[str, Scenario]:
    """Return every scenario the plugins contribute, by name, in contribution order.

    Raises:
        SyntheticDataError: If a plugin returns something other than scenarios.
    """
    catalog: dict[str, Scenario] = {}
    for impl in plugins.implementations("chassis_scenarios"):
        result = plugins.invoke(impl, "chassis_scenarios", {})
        if result is None:
            continue
        items = result if isinstance(result, Sequence) else [result]
        for item in items:
            if not isinstance(item, Scenario):
                raise SyntheticDataError(
                    f"plugin {impl.plugin_name!r} returned {item!r} from chassis_scenarios; "
                    "expected Scenario objects"
                )
            catalog[item.name] = item
    return catalog


def find_scenario(catalog: Mapping[str, Scenario], name: str) -> Scenario:
    """Return the scenario called ``name``.

    Raises:
        UnknownScenario: If there is none.
    """
    try:
        return catalog[name]
    except KeyError:
        raise UnknownScenario(name, sorted(catalog)) from None


def role_factories(plugins: ChassisPluginManager) -> dict[str, type]:
    """Return the factory bound to each role by the plugins' ``chassis_factories`` hooks.

    Raises:
        RoleBindingError: If a plugin returns something other than a mapping.
    """
    bindings: dict[str, type] = {}
    for impl in plugins.implementations("chassis_factories"):
        result = plugins.invoke(impl, "chassis_factories", {})
        if result is None:
            continue
        if not isinstance(result, Mapping):
            raise RoleBindingError(
                f"plugin {impl.plugin_name!r} returned {result!r} from chassis_factories; "
                "expected a mapping of role names to factory classes"
            )
        bindings.update(result)
    return bindings
