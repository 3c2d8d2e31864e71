"""What plugins hand to the application through hooks, as small typed records."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.types import ASGIApp

__all__ = ["CheckLevel", "MiddlewareOrder", "MiddlewareSpec", "ReadinessCheck"]


class MiddlewareOrder:
    """Where the built-in middleware sits; lower numbers are further out.

    The request lifecycle layer is outside all of them, and the access line is
    written from the ``chassis_request_finished`` hook once the response is done.

    A plugin picks a number relative to these to place its own middleware, for
    example ``MiddlewareOrder.CORRELATION + 1`` to run right inside the layer that
    binds the correlation id.
    """

    TRACING = 50
    """The OpenTelemetry server span, so it covers every other layer."""
    CORRELATION = 100
    """Before anything can refuse a request, so every answer carries the id."""
    CORS = 200
    """Outside the layers that refuse requests, so browsers can read their problems."""
    TRUSTED_HOSTS = 300
    METRICS = 400
    BODY_LIMIT = 500
    VERSIONING = 700
    TRANSACTION = 800
    DEFAULT = 1000
    """Plugins' middleware goes inside all built-in layers unless it says otherwise."""


@dataclass(frozen=True, slots=True)
class MiddlewareSpec:
    """An ASGI middleware a plugin adds, with its position.

    Attributes:
        cls: The middleware class; it is called as ``cls(app, **options)``.
        options: Keyword arguments for the middleware.
        order: The position: lower is further out (see :class:`MiddlewareOrder`).
            Equal orders keep the order in which plugins were registered.
    """

    cls: Callable[..., ASGIApp]
    options: Mapping[str, object] = field(default_factory=dict)
    order: int = MiddlewareOrder.DEFAULT


class CheckLevel(StrEnum):
    """What a failing readiness check does to the overall answer."""

    FAIL = "fail"
    """The service is not ready (503)."""
    WARN = "warn"
    """Reported, but the service stays ready."""


@dataclass(frozen=True, slots=True)
class ReadinessCheck:
    """A readiness check contributed by a plugin.

    The check returns normally (optionally with a short message) when the
    dependency is usable and raises when it is not. Async functions are awaited;
    plain functions run in a worker thread, so a blocking client cannot stall
    the event loop.

    Attributes:
        name: Shown in the readiness report and usable in ``/health/ready/{name}``.
        check: The function to run.
        timeout: Seconds after which the check counts as failed.
        level: Whether a failure makes the service unready or only warns.
        cache_seconds: Reuse a result for this long (0 runs the check every time),
            for checks that are expensive for the dependency.
    """

    name: str
    check: Callable[[], Awaitable[str | None]] | Callable[[], str | None]
    timeout: float = 2.0
    level: CheckLevel = CheckLevel.FAIL
    cache_seconds: float = 0.0

    def __post_init__(self) -> None:
        if not callable(self.check):
            raise TypeError(f"readiness check {self.name!r}: check must be callable")
        if self.timeout <= 0:
            raise ValueError(f"readiness check {self.name!r}: timeout must be positive")
        if self.cache_seconds < 0:
            raise ValueError(f"readiness check {self.name!r}: cache_seconds cannot be negative")
