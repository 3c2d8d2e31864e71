"""The shop's own middleware, and the list the plugin hands to the chassis.

:class:`ServerTimingMiddleware` tells every client how much of a response's time
went to the database, with the ``Server-Timing`` header (browsers show it in
their developer tools). The chassis already counts each request's statements and
their time in its :class:`~fastapi_chassis.api.RequestFacts`; this layer only
reads them, so it costs one header per response.
"""

import time

from fastapi_chassis.api.facts import facts_for
from fastapi_chassis.plugins import MiddlewareOrder, MiddlewareSpec
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class ServerTimingMiddleware:
    """Add ``Server-Timing: db;dur=...;desc="N queries", app;dur=...`` to HTTP responses.

    The durations are in milliseconds, up to the moment the response starts: the
    request's transaction has committed by then, because this layer sits outside
    the chassis's commit layer.

    Args:
        app: The ASGI application to wrap.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        facts = facts_for(scope)

        async def send_with_timing(message: Message) -> None:
            if message["type"] == "http.response.start":
                elapsed_ms = (time.perf_counter() - facts.started) * 1000
                value = (
                    f'db;dur={facts.db_time * 1000:.1f};desc="{facts.db_queries} queries", '
                    f"app;dur={elapsed_ms:.1f}"
                )
                headers = list(message.get("headers", ()))
                headers.append((b"server-timing", value.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_timing)


def middleware_specs() -> list[MiddlewareSpec]:
    """Return the shop's middleware with their places in the chassis's stack."""
    # Outside the commit layer, so the commit's own statements are counted.
    return [MiddlewareSpec(ServerTimingMiddleware, order=MiddlewareOrder.TRANSACTION - 10)]
