"""CORS and trusted hosts from settings, as built-in plugins around Starlette's middleware."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.middleware.cors import CORSMiddleware

from fastapi_chassis.api.problems import Problem, send_problem
from fastapi_chassis.plugins.contributions import MiddlewareOrder, MiddlewareSpec
from fastapi_chassis.plugins.markers import hookimpl

if TYPE_CHECKING:
    from collections.abc import Sequence

    from starlette.types import ASGIApp, Receive, Scope, Send

    from fastapi_chassis.settings import ChassisSettings

__all__ = ["CorsPlugin", "TrustedHostMiddleware", "TrustedHostsPlugin"]


class TrustedHostMiddleware:
    """Answer 400 problem+json to requests whose ``Host`` is not listed.

    Args:
        app: The ASGI application to wrap.
        allowed_hosts: Host names; ``*.example.com`` matches every subdomain of
            ``example.com``, and ``*`` matches any host.
    """

    def __init__(self, app: ASGIApp, *, allowed_hosts: Sequence[str]) -> None:
        for pattern in allowed_hosts:
            if "*" in pattern[1:] or (
                pattern.startswith("*") and pattern not in {"*"} and not pattern.startswith("*.")
            ):
                raise ValueError(
                    f"invalid host pattern {pattern!r}: only a leading '*.' is allowed"
                )
        self.app = app
        self.any_host = "*" in allowed_hosts
        self.exact = frozenset(host.lower() for host in allowed_hosts if not host.startswith("*"))
        self.suffixes = tuple(host[1:].lower() for host in allowed_hosts if host.startswith("*."))

    def _allowed(self, host: str) -> bool:
        return host in self.exact or (bool(self.suffixes) and host.endswith(self.suffixes))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if self.any_host or scope["type"] not in {"http", "websocket"}:
            await self.app(scope, receive, send)
            return
        host = ""
        for name, value in scope["headers"]:
            if name == b"host":
                host = value.decode("latin-1").split(":", 1)[0].lower()
                break
        if self._allowed(host):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await send_problem(
            send, Problem(400, kind="invalid-host", detail="the Host header is not served here")
        )


class CorsPlugin:
    """Built-in plugin ``chassis.cors``: CORS for ``cors_origins`` (off when empty).

    The correlation and API version headers are exposed to browsers, and the
    headers clients send for them, conditional writes and versioning are allowed.
    """

    name = "chassis.cors"

    @hookimpl
    def chassis_middleware(self, settings: ChassisSettings) -> list[MiddlewareSpec]:
        """Add Starlette's CORS middleware when origins are configured."""
        if not settings.cors_origins:
            return []
        options: dict[str, object] = {
            "allow_origins": settings.cors_origins,
            "allow_methods": ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            "allow_headers": [
                "Authorization",
                "Content-Type",
                "If-Match",
                "X-API-Version",
                "X-Correlation-ID",
                "X-Request-ID",
                "traceparent",
            ],
            "expose_headers": [
                "ETag",
                "X-API-Version",
                "X-Correlation-ID",
                "Deprecation",
                "Sunset",
                "Link",
            ],
            "allow_credentials": "*" not in settings.cors_origins,
        }
        return [MiddlewareSpec(CORSMiddleware, options, order=MiddlewareOrder.CORS)]


class TrustedHostsPlugin:
    """Built-in plugin ``chassis.trusted_hosts``: refuse other ``Host`` headers (off when empty)."""

    name = "chassis.trusted_hosts"

    @hookimpl
    def chassis_middleware(self, settings: ChassisSettings) -> list[MiddlewareSpec]:
        """Add Starlette's trusted-host middleware when hosts are configured."""
        if not settings.trusted_hosts:
            return []
        return [
            MiddlewareSpec(
                TrustedHostMiddleware,
                {"allowed_hosts": settings.trusted_hosts},
                order=MiddlewareOrder.TRUSTED_HOSTS,
            )
        ]
