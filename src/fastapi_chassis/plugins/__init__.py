"""The plugin system: hook specifications, the manager, and what plugins contribute.

See :mod:`fastapi_chassis.plugins.hookspecs` for every hook, with examples.
"""

from fastapi_chassis.plugins.contributions import (
    CheckLevel,
    MiddlewareOrder,
    MiddlewareSpec,
    ReadinessCheck,
)
from fastapi_chassis.plugins.manager import ChassisPluginManager, PluginError, PluginInfo
from fastapi_chassis.plugins.markers import PROJECT, hookimpl, hookspec

__all__ = [
    "PROJECT",
    "ChassisPluginManager",
    "CheckLevel",
    "MiddlewareOrder",
    "MiddlewareSpec",
    "PluginError",
    "PluginInfo",
    "ReadinessCheck",
    "hookimpl",
    "hookspec",
]
