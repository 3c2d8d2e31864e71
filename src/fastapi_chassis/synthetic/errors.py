"""What the synthetic-data tools raise."""

from __future__ import annotations

from fastapi_chassis.errors import ChassisError

__all__ = ["FactoryUsageError", "RoleBindingError", "SyntheticDataError", "UnknownScenario"]


class SyntheticDataError(ChassisError):
    """Base class of the synthetic-data errors."""


class UnknownScenario(SyntheticDataError, LookupError):
    """No scenario of that name is registered.

    Attributes:
        name: The name asked for.
        known: The names that are registered, sorted.
    """

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(
            f"unknown scenario {name!r}; known scenarios: {', '.join(known) or 'none'}"
        )
        self.name = name
        self.known = known


class RoleBindingError(SyntheticDataError):
    """The factories bound to scenario roles cannot produce the scenario's rows.

    Raised when a role has no factory, a factory has no mapped model, or a model's
    table lacks what bulk loading needs (a single UUID primary key, foreign keys
    between the role tables).
    """


class FactoryUsageError(SyntheticDataError):
    """A factory was used in a way that cannot work (a synchronous ``create()``)."""
