"""fastapi-chassis: production patterns for FastAPI services on PostgreSQL.

The top-level names are loaded on first use, so importing a submodule (the
pytest plugin, a mixin) does not pull in the web stack.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi_chassis.app import create_app
    from fastapi_chassis.errors import ChassisError, ConfigurationError
    from fastapi_chassis.plugins.markers import hookimpl
    from fastapi_chassis.settings import ChassisSettings

__version__ = "0.1.0.dev0"

__all__ = [
    "ChassisError",
    "ChassisSettings",
    "ConfigurationError",
    "__version__",
    "create_app",
    "hookimpl",
]

_LAZY = {
    "ChassisError": "fastapi_chassis.errors",
    "ChassisSettings": "fastapi_chassis.settings",
    "ConfigurationError": "fastapi_chassis.errors",
    "create_app": "fastapi_chassis.app",
    "hookimpl": "fastapi_chassis.plugins.markers",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
