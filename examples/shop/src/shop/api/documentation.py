"""OpenAPI descriptions of the error answers, so clients (and schemathesis) know them.

FastAPI documents the ``422`` of request validation on its own; the other
problem documents an endpoint can answer with are declared per route with
:func:`problem_responses`. Routes that take a body declare ``400`` themselves:
the chassis documents a ``400`` as the unknown-version problem only, but a body
that is not even UTF-8 is answered with a plain ``400`` problem too.
"""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

_DESCRIPTIONS = {
    400: "The request cannot be used: a cursor from another listing, a body that is not JSON, "
    "or an API version this service does not serve.",
    404: "There is no such record (or it was deleted).",
    409: "The request conflicts with the record's state: see the problem's type.",
    412: "If-Match names an outdated version of the record: read it again.",
    422: "The request names a record that does not exist, or breaks a rule of the data.",
    428: "This write needs an If-Match header with the record's ETag.",
}


class ProblemDocument(BaseModel):
    """An RFC 9457 problem document, as every error is answered."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["https://shop.example.com/problems/insufficient-stock"])
    title: str
    status: int = Field(ge=400, le=599)
    detail: str | None = None
    instance: str | None = None
    correlation_id: str | None = None


_PROBLEM_SCHEMA = ProblemDocument.model_json_schema()


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Return FastAPI ``responses=`` entries for problem answers with these statuses."""
    return {
        status: {
            "description": _DESCRIPTIONS[status],
            "content": {"application/problem+json": {"schema": _PROBLEM_SCHEMA}},
        }
        for status in statuses
    }
