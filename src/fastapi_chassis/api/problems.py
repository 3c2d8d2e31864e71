"""RFC 9457 problem details: the one shape of every error response.

A problem is a JSON object served as ``application/problem+json`` with ``type``,
``title``, ``status``, ``detail`` and ``instance``, plus the chassis's own members:
``correlation_id`` (always, so a user's bug report finds the log lines) and, where
they help, ``errors`` (validation), ``constraint`` (database conflicts) or
``supported_versions``. The same function renders problems for exception handlers
and for middleware that answers before any route runs.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import TYPE_CHECKING

from starlette.responses import Response

from fastapi_chassis.context import current_correlation_id

if TYPE_CHECKING:
    from collections.abc import Mapping

    from starlette.types import Send

__all__ = ["PROBLEM_CONTENT_TYPE", "Problem", "problem_response", "send_problem"]

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://fastapi-chassis.dev/problems/"
"""Problem ``type`` URIs the chassis uses start here; each names a documented kind."""


class Problem:
    """The members of one problem document.

    Args:
        status: The HTTP status.
        kind: A short slug for the problem type (``"not-found"``); it becomes a
            ``type`` URI under the chassis's problem documentation. ``None`` gives
            ``about:blank``, as RFC 9457 suggests when the status says it all.
        type_uri: The full ``type`` URI, for an application's own problem types
            (documented on its own site); it takes precedence over ``kind``.
        title: A short, stable summary; the status phrase by default.
        detail: What went wrong this time, for the client's developer.
        instance: The request path the problem is about.
        extensions: Further members (``errors``, ``constraint`` ...).
    """

    __slots__ = ("detail", "extensions", "instance", "kind", "status", "title", "type_uri")

    def __init__(
        self,
        status: int,
        *,
        kind: str | None = None,
        type_uri: str | None = None,
        title: str | None = None,
        detail: str | None = None,
        instance: str | None = None,
        extensions: Mapping[str, object] | None = None,
    ) -> None:
        self.status = status
        self.kind = kind
        self.type_uri = type_uri
        self.title = title or HTTPStatus(status).phrase
        self.detail = detail
        self.instance = instance
        self.extensions = dict(extensions or {})

    def to_dict(self) -> dict[str, object]:
        """Return the problem document, with the current correlation id."""
        document: dict[str, object] = {
            "type": self.type_uri
            or (f"{PROBLEM_TYPE_BASE}{self.kind}" if self.kind else "about:blank"),
            "title": self.title,
            "status": self.status,
        }
        if self.detail is not None:
            document["detail"] = self.detail
        if self.instance is not None:
            document["instance"] = self.instance
        document.update(self.extensions)
        if "correlation_id" not in document:
            document["correlation_id"] = current_correlation_id()
        return document

    def body(self) -> bytes:
        """Return the problem document as JSON bytes."""
        return json.dumps(self.to_dict(), separators=(",", ":"), default=str).encode()


def problem_response(problem: Problem, headers: Mapping[str, str] | None = None) -> Response:
    """Return a Starlette response carrying ``problem``."""
    return Response(
        problem.body(),
        status_code=problem.status,
        headers=dict(headers or {}),
        media_type=PROBLEM_CONTENT_TYPE,
    )


async def send_problem(
    send: Send, problem: Problem, headers: Mapping[str, str] | None = None
) -> None:
    """Send ``problem`` as a complete response straight through an ASGI ``send``."""
    body = problem.body()
    raw_headers = [
        (b"content-type", PROBLEM_CONTENT_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    raw_headers.extend(
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in (headers or {}).items()
    )
    await send({"type": "http.response.start", "status": problem.status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})
