"""The web layer: middleware, dependencies, errors and health for chassis applications."""

from fastapi_chassis.api.correlation import CorrelationIdMiddleware
from fastapi_chassis.api.dependencies import api_version, correlation_id
from fastapi_chassis.api.etag import etag_for, optional_if_match, require_if_match
from fastapi_chassis.api.facts import RequestFacts
from fastapi_chassis.api.problems import Problem, problem_response
from fastapi_chassis.api.sessions import SessionDep, get_session

__all__ = [
    "CorrelationIdMiddleware",
    "Problem",
    "RequestFacts",
    "SessionDep",
    "api_version",
    "correlation_id",
    "etag_for",
    "get_session",
    "optional_if_match",
    "problem_response",
    "require_if_match",
]
