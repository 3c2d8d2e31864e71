"""A limit on request body size, answered with 413 problem+json.

The limit is checked twice: against ``Content-Length`` before the application
runs, and against the bytes actually received, for chunked uploads that announce
no length. When a stream goes over, the middleware answers 413 at once and tells
the application the client has gone, so nothing past the limit is read or kept.

Counting costs a wrapper around ``receive`` and ``send`` on every request, so it
is skipped where HTTP/1 framing already bounds the body: the server delivers no
more than a ``Content-Length`` within the limit, and a request with neither
``Content-Length`` nor ``Transfer-Encoding`` has no body at all (RFC 9112,
section 6.3). Other requests (chunked, HTTP/2 and later) are counted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi_chassis.api.problems import Problem, send_problem
from fastapi_chassis.plugins.contributions import MiddlewareOrder, MiddlewareSpec
from fastapi_chassis.plugins.markers import hookimpl

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from fastapi_chassis.settings import ChassisSettings

__all__ = ["BodyLimitPlugin", "BodySizeLimitMiddleware"]

# Versions whose framing (Content-Length, or no body without Transfer-Encoding)
# the server enforces before the application sees the body.
_FRAMED_VERSIONS = frozenset({"1.0", "1.1"})


def _too_large(limit: int, path: str) -> Problem:
    return Problem(
        413,
        kind="payload-too-large",
        detail=f"the request body is larger than {limit} bytes",
        instance=path,
        extensions={"max_body_bytes": limit},
    )


class BodySizeLimitMiddleware:
    """Refuse request bodies larger than ``max_body_bytes`` with 413.

    Args:
        app: The ASGI application to wrap.
        max_body_bytes: The largest body accepted.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        if max_body_bytes < 0:
            raise ValueError("max_body_bytes cannot be negative")
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        declared = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value
            elif name == b"transfer-encoding":
                chunked = True
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            problem = (
                _too_large(limit, scope["path"])
                if declared.isdigit()
                else Problem(400, kind="bad-request", detail="invalid Content-Length")
            )
            await send_problem(send, problem)
            return
        if not chunked and scope.get("http_version") in _FRAMED_VERSIONS:
            await self.app(scope, receive, send)
            return
        await self._counted(scope, receive, send, limit)

    async def _counted(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        received = 0
        answered = False

        async def limited_receive() -> Message:
            nonlocal received, answered
            if answered:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    answered = True
                    await send_problem(send, _too_large(limit, scope["path"]))
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not answered:
                await send(message)

        await self.app(scope, limited_receive, guarded_send)


class BodyLimitPlugin:
    """Built-in plugin ``chassis.body_limit``, from ``max_request_body_bytes``."""

    name = "chassis.body_limit"

    @hookimpl
    def chassis_middleware(self, settings: ChassisSettings) -> list[MiddlewareSpec]:
        """Add the limit (a limit of 0 turns it off)."""
        if settings.max_request_body_bytes == 0:
            return []
        return [
            MiddlewareSpec(
                BodySizeLimitMiddleware,
                {"max_body_bytes": settings.max_request_body_bytes},
                order=MiddlewareOrder.BODY_LIMIT,
            )
        ]
