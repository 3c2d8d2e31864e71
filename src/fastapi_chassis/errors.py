"""The root of the chassis's exception hierarchy.

Every exception the library raises on purpose derives from :class:`ChassisError`,
so ``except ChassisError`` catches all of them and nothing else. Exceptions that
belong to one area live with it (``fastapi_chassis.db.errors`` for the data layer).
"""

from __future__ import annotations

__all__ = ["ChassisError", "ConfigurationError"]


class ChassisError(Exception):
    """Base class of every exception raised by fastapi-chassis."""


class ConfigurationError(ChassisError, RuntimeError):
    """The settings lack something a feature needs, or contradict each other."""
