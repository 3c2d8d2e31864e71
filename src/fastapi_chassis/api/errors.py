"""Exceptions to problem responses: one mapping for handlers and middleware.

| Exception | Status | Problem type |
| --- | --- | --- |
| `NotFound` | 404 | `not-found` |
| `ConcurrencyConflict` | 409, or 412 when the request sent `If-Match` | `concurrency-conflict` |
| `RestoreConflict`, other `ConflictError` | 409 | `conflict` |
| unique, foreign-key or exclusion violation | 409, naming the constraint | `constraint-violation` |
| check violation | 422, naming the constraint | `constraint-violation` |
| data exception (value out of range, NUL in text...) | 400 | `invalid-value` |
| `InvalidQuery` | 400 | `invalid-query` |
| `PreconditionFailed` | 412 | `precondition-failed` |
| `PreconditionRequired` | 428 | `precondition-required` |
| request validation | 422, with `errors` | `validation-error` |
| `HTTPException` | its status | `about:blank` |
| anything else | 500, with no detail | `internal-error` |

A 500 never carries the exception's text, a stack trace or SQL: the client gets
the correlation id, and the log line written for the request has the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException

from fastapi_chassis.api.etag import PreconditionFailed, PreconditionRequired
from fastapi_chassis.api.problems import Problem, problem_response
from fastapi_chassis.db.errors import (
    ConcurrencyConflict,
    ConflictError,
    InvalidQuery,
    NotFound,
    sqlstate,
)
from fastapi_chassis.plugins.markers import hookimpl

if TYPE_CHECKING:
    from collections.abc import Mapping

    from fastapi import FastAPI
    from starlette.requests import Request
    from starlette.responses import Response

__all__ = ["ErrorsPlugin", "install_exception_handlers", "problem_for"]

# SQLSTATE class 23, integrity constraint violations, by what the client is told.
_CONSTRAINT_DETAILS = {
    "23505": "a row with the same unique key exists",
    "23503": "the change refers to, or is referred to by, another row",
    "23001": "the change refers to, or is referred to by, another row",
    "23P01": "the change conflicts with an existing row",
    "23514": "the values break a rule of the data model",
    "23502": "a required value is missing",
}


# Exceptions whose message is written for the client, with their status and type.
_SIMPLE: tuple[tuple[type[Exception], int, str], ...] = (
    (NotFound, 404, "not-found"),
    (InvalidQuery, 400, "invalid-query"),
    (PreconditionFailed, 412, "precondition-failed"),
    (PreconditionRequired, 428, "precondition-required"),
)


def problem_for(
    error: BaseException, *, conditional: bool = False, instance: str | None = None
) -> Problem:
    """Return the problem that answers ``error``.

    Args:
        error: The exception to answer.
        conditional: Whether the request carried ``If-Match`` (a version conflict
            then means the precondition failed: 412).
        instance: The request path, for the problem's ``instance`` member.
    """
    for kind, status, slug in _SIMPLE:
        if isinstance(error, kind):
            return Problem(status, kind=slug, detail=str(error), instance=instance)
    if isinstance(error, ConcurrencyConflict):
        return Problem(
            412 if conditional else 409,
            kind="concurrency-conflict",
            title="The resource changed since it was read",
            detail="re-read the resource and apply the change to its current version",
            instance=instance,
            extensions={"current_version": error.actual_version},
        )
    if isinstance(error, StaleDataError):
        # The ORM's own version check (a flush of a VersionMixin row that changed
        # since it was loaded): the same conflict, without the current version.
        return Problem(
            412 if conditional else 409,
            kind="concurrency-conflict",
            title="The resource changed since it was read",
            detail="re-read the resource and apply the change to its current version",
            instance=instance,
        )
    if isinstance(error, ConflictError):
        return Problem(409, kind="conflict", detail=str(error), instance=instance)
    if isinstance(error, IntegrityError):
        return _constraint_problem(error, instance)
    if isinstance(error, DBAPIError) and (sqlstate(error) or "").startswith("22"):
        # SQLSTATE class 22: a value the database cannot hold (an integer out of
        # range, a NUL in text). asyncpg's dialect raises these as plain
        # DBAPIError, not DataError, hence the SQLSTATE. The driver's message may
        # quote SQL, so it is not passed on.
        return Problem(
            400,
            kind="invalid-value",
            detail="a value is out of range or malformed for the database",
            instance=instance,
        )
    if isinstance(error, RequestValidationError):
        return Problem(
            422,
            kind="validation-error",
            title="The request is not valid",
            instance=instance,
            extensions={"errors": _plain_errors(error)},
        )
    if isinstance(error, HTTPException):
        # FastAPI's HTTPException allows any JSON-able detail; only text is kept.
        raw_detail: object = error.detail
        detail = raw_detail if isinstance(raw_detail, str) else None
        return Problem(error.status_code, detail=detail, instance=instance)
    return Problem(500, kind="internal-error", instance=instance)


def _constraint_problem(error: IntegrityError, instance: str | None) -> Problem:
    # Every constraint the data model declares is the client's conflict with the
    # stored state or the rules: 409, naming the constraint (or, for NOT NULL,
    # the column) but never quoting the SQL or the values.
    detail = _CONSTRAINT_DETAILS.get(sqlstate(error) or "")
    if detail is None:
        return Problem(500, kind="internal-error", instance=instance)
    cause = getattr(error.orig, "__cause__", None)
    extensions: dict[str, object] = {}
    for field in ("constraint", "column"):
        name = getattr(cause, f"{field}_name", None)
        if name:
            extensions[field] = name
    return Problem(
        409, kind="constraint-violation", detail=detail, instance=instance, extensions=extensions
    )


def _plain_errors(error: RequestValidationError) -> list[dict[str, object]]:
    # Pydantic's error dicts may hold the input and exception objects; keep what
    # a client can use, as JSON-safe values.
    return [
        {"loc": list(item.get("loc", ())), "msg": item.get("msg"), "type": item.get("type")}
        for item in error.errors()
    ]


async def _handle(request: Request, error: Exception) -> Response:
    problem = problem_for(
        error, conditional="if-match" in request.headers, instance=request.url.path
    )
    headers: Mapping[str, str] | None = getattr(error, "headers", None)
    return problem_response(problem, headers=headers)


_HANDLED: tuple[type[Exception], ...] = (
    NotFound,
    ConflictError,
    InvalidQuery,
    PreconditionFailed,
    PreconditionRequired,
    IntegrityError,
    DBAPIError,
    RequestValidationError,
    HTTPException,
    Exception,
)


def install_exception_handlers(app: FastAPI) -> None:
    """Make ``app`` answer every error with a problem document.

    The handler for ``Exception`` renders the 500 that Starlette's error middleware
    sends before it re-raises; the outermost chassis layer then logs the error once
    and stops it there (see :mod:`fastapi_chassis.api.lifecycle`).
    """
    for kind in _HANDLED:
        app.add_exception_handler(kind, _handle)


class ErrorsPlugin:
    """Built-in plugin ``chassis.errors``: problem+json for every error."""

    name = "chassis.errors"

    @hookimpl
    def chassis_configure_app(self, app: FastAPI) -> None:
        """Install the exception handlers."""
        install_exception_handlers(app)
