"""The web layer: middleware, dependencies, errors and health for chassis applications."""

from typing import TYPE_CHECKING

from fastapi_chassis.api.correlation import CorrelationIdMiddleware
from fastapi_chassis.api.dependencies import api_version, correlation_id
from fastapi_chassis.api.etag import etag_for, optional_if_match, require_if_match
from fastapi_chassis.api.facts import RequestFacts
from fastapi_chassis.api.problems import Problem, problem_response
from fastapi_chassis.api.sessions import SessionDep, get_session
from fastapi_chassis.api.versioning import APIVersionMiddleware
from fastapi_chassis.api.versioning_routes import removed_route

if TYPE_CHECKING:
    from fastapi_chassis.observability.metrics import MetricsMiddleware

__all__ = [
    "APIVersionMiddleware",
    "CorrelationIdMiddleware",
    "MetricsMiddleware",
    "Problem",
    "RequestFacts",
    "SessionDep",
    "api_version",
    "correlation_id",
    "etag_for",
    "get_session",
    "optional_if_match",
    "problem_response",
    "removed_route",
    "require_if_match",
]


def __getattr__(name: str) -> object:
    # The metrics middleware lives in fastapi_chassis.observability, whose modules
    # import this package's modules: loading it on first use keeps every import
    # order free of cycles.
    if name == "MetricsMiddleware":
        from fastapi_chassis.observability.metrics import (  # noqa: PLC0415
            MetricsMiddleware,
        )

        globals()[name] = MetricsMiddleware
        return MetricsMiddleware
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
