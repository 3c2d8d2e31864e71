"""API versions chosen by a request header: ``X-API-Version``.

:class:`APIVersionMiddleware` reads the header and picks one of the configured
versions (none sent means the default one). It leaves the choice in the ASGI
scope, where the versioned routes of :mod:`fastapi_chassis.api.versioning_routes`
read it to route the request, and in the request's
:class:`~fastapi_chassis.api.facts.RequestFacts`, where logs, metrics, ETags and
the :func:`~fastapi_chassis.api.api_version` dependency read it. Every response
says which version answered (``X-API-Version``) and that the answer depends on
the header (``Vary: X-API-Version``); a deprecated version adds ``Deprecation``
(RFC 9745), ``Sunset`` (RFC 8594) and a ``Link`` to its migration notes.

A header that names no configured version gets 400 problem+json listing the
supported versions; a version past its sunset gets 410. The header's value is
never echoed or logged: only the configured versions, which are checked to be
short tokens, ever reach a response. Everything a response carries is worked
out once, when the middleware is built, so choosing a version costs a
dictionary lookup per request.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING

from fastapi_chassis.api.facts import begin_request, end_request
from fastapi_chassis.api.lifecycle import add_headers
from fastapi_chassis.api.problems import Problem, send_problem
from fastapi_chassis.plugins.contributions import MiddlewareOrder, MiddlewareSpec
from fastapi_chassis.plugins.markers import hookimpl

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

    from fastapi_chassis.settings import APIDeprecation, ChassisSettings

__all__ = [
    "API_VERSION_HEADER",
    "VERSION_SCOPE_KEY",
    "APIVersionMiddleware",
    "VersionRefusal",
    "VersioningPlugin",
    "check_api_versions",
]

API_VERSION_HEADER = "X-API-Version"
"""The request header that selects the API version, echoed on every response."""

VERSION_SCOPE_KEY = "fastapi_chassis.api_version"
"""Where the middleware leaves its choice in the ASGI scope: the version (a ``str``),
or the :class:`VersionRefusal` to answer when routing is left to refuse."""

# Versions end up in headers, URLs and ETags: short tokens keep all three safe.
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
# Printable ASCII without space, quotes and angle brackets: safe inside <...>.
_LINK_URL = re.compile(r"[\x21\x23-\x3b\x3d\x3f-\x7e]+")

RawHeaders = tuple[tuple[bytes, bytes], ...]
"""Response headers as ASGI sends them: lower-case names and values, as bytes."""


@dataclass(frozen=True, slots=True, eq=False)
class VersionRefusal:
    """Why a request's API version cannot be served, and the answer to give.

    Attributes:
        status: 400 for a version that is not configured, 410 for one past its sunset.
        kind: The problem type slug.
        title: The problem title.
        detail: The problem detail (never the header's value).
        supported_versions: The versions a client may send instead.
        headers: Added to the response that answers the request.
    """

    status: int
    kind: str
    title: str
    detail: str
    supported_versions: tuple[str, ...]
    headers: RawHeaders = field(default=())

    def problem(self, instance: str | None = None) -> Problem:
        """Return the problem document that answers the request at ``instance``."""
        return Problem(
            self.status,
            kind=self.kind,
            title=self.title,
            detail=self.detail,
            instance=instance,
            extensions={"supported_versions": list(self.supported_versions)},
        )


@dataclass(frozen=True, slots=True)
class _Served:
    """A configured version and everything its responses carry, worked out once."""

    version: str
    headers: RawHeaders
    sunset: float | None
    sunset_text: str | None


def check_api_versions(versions: Sequence[str]) -> None:
    """Check that there are versions, and that each is fit for headers, URLs and ETags.

    Raises:
        ValueError: If ``versions`` is empty or a version is not 1 to 32 letters,
            digits, ``.``, ``_`` or ``-``, starting with a letter or digit.
    """
    if not versions:
        raise ValueError("at least one API version is needed")
    for version in versions:
        if not _VERSION.fullmatch(version):
            raise ValueError(
                f"API version {version!r} must be 1 to 32 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )


def _http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def _link(version: str, deprecation: APIDeprecation, template: str | None) -> str | None:
    url = deprecation.link or (template.replace("{version}", version) if template else None)
    if url is not None and not _LINK_URL.fullmatch(url):
        raise ValueError(f"the migration notes URL for API version {version} is not a valid URL")
    return url


def _served_versions(
    versions: Sequence[str],
    deprecations: Mapping[str, APIDeprecation],
    *,
    deprecation_link: str | None = None,
    header_name: str = API_VERSION_HEADER,
) -> dict[str, _Served]:
    """Check a versioning configuration and work out each version's response headers.

    Args:
        versions: The versions served, oldest first.
        deprecations: The deprecated versions with their dates.
        deprecation_link: The migration notes URL template (``{version}`` is replaced).
        header_name: The header that carries the version.

    Returns:
        Each version with the headers its responses carry.

    Raises:
        ValueError: If a version is not a short token (letters, digits, ``.``, ``_``,
            ``-``), a deprecated version is not served or has no deprecation date,
            or a migration notes URL is unfit for a header.
    """
    check_api_versions(versions)
    if not _HEADER_NAME.fullmatch(header_name):
        raise ValueError(f"{header_name!r} is not a valid header name")
    unknown = sorted(set(deprecations) - set(versions))
    if unknown:
        raise ValueError(f"deprecated API versions that are not served: {unknown}")
    name = header_name.lower().encode("ascii")
    served = {}
    for version in versions:
        headers = [(name, version.encode("ascii")), (b"vary", header_name.encode("ascii"))]
        sunset = sunset_text = None
        deprecation = deprecations.get(version)
        if deprecation is not None:
            if deprecation.deprecated is None:
                raise ValueError(f"deprecated API version {version} needs its deprecation date")
            headers.append((b"deprecation", f"@{int(deprecation.deprecated.timestamp())}".encode()))
            if deprecation.sunset is not None:
                sunset = deprecation.sunset.timestamp()
                sunset_text = _http_date(deprecation.sunset)
                headers.append((b"sunset", sunset_text.encode("ascii")))
            url = _link(version, deprecation, deprecation_link)
            if url is not None:
                headers.append((b"link", f'<{url}>; rel="deprecation"'.encode("ascii")))
        served[version] = _Served(version, tuple(headers), sunset, sunset_text)
    return served


class APIVersionMiddleware:
    """Choose each request's API version from a header; refuse unknown and retired ones.

    Args:
        app: The ASGI application to wrap.
        versions: The versions served, oldest first.
        default: The version of requests without the header; the oldest by default.
        deprecations: Deprecated versions with their deprecation date, sunset and
            migration notes (:class:`~fastapi_chassis.settings.APIDeprecation`).
        deprecation_link: The migration notes URL for deprecated versions that name
            none themselves; ``{version}`` is replaced by the version.
        header_name: The header that carries the version.
        exempt_paths: Path prefixes served whatever the header says (an unknown
            version is then ignored), for health checks and the like.
        defer_refusal: Leave refusing unknown and retired versions to the
            versioned routes (``create_app`` does), which refuse only on the paths
            they serve, so routes outside versioning keep answering.

    Raises:
        ValueError: If a version is not a short token (1 to 32 letters, digits,
            ``.``, ``_`` or ``-``), the default or a deprecated version is not one
            of ``versions``, a deprecated version has no deprecation date, or the
            header name or a migration notes URL is malformed.

    Example:
        >>> app.add_middleware(APIVersionMiddleware, versions=["1", "2"], default="1")
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        versions: Sequence[str],
        default: str | None = None,
        deprecations: Mapping[str, APIDeprecation] | None = None,
        deprecation_link: str | None = None,
        header_name: str = API_VERSION_HEADER,
        exempt_paths: Sequence[str] = (),
        defer_refusal: bool = False,
    ) -> None:
        self.app = app
        self.header_name = header_name
        self._served = _served_versions(
            versions,
            deprecations or {},
            deprecation_link=deprecation_link,
            header_name=header_name,
        )
        default = versions[0] if default is None else default
        if default not in self._served:
            raise ValueError(f"the default API version {default!r} is not one of {list(versions)}")
        self.default = default
        self._default = self._served[default]
        self._by_value = {
            version.encode("ascii"): served for version, served in self._served.items()
        }
        self._header = header_name.lower().encode("ascii")
        self._vary = ((b"vary", header_name.encode("ascii")),)
        self._exempt = tuple(exempt_paths)
        self.defer_refusal = defer_refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        kind = scope["type"]
        if kind not in {"http", "websocket"}:
            await self.app(scope, receive, send)
            return
        value = None
        repeated = False
        for name, raw in scope["headers"]:
            if name == self._header:
                repeated = value is not None
                value = raw
        served = self._default if value is None else self._by_value.get(value)
        if repeated:
            served = None
        facts, token = begin_request(scope)
        try:
            if served is not None and (served.sunset is None or time.time() < served.sunset):
                scope[VERSION_SCOPE_KEY] = facts.api_version = served.version
                headers = served.headers
            else:
                refusal = self._unknown() if served is None else self._retired(served)
                if served is not None:
                    facts.api_version = served.version
                headers = refusal.headers
                if not self.defer_refusal and not scope["path"].startswith(self._exempt):
                    await answer_refusal(refusal, scope, add_headers(scope, send, headers))
                    return
                scope[VERSION_SCOPE_KEY] = refusal
            await self.app(
                scope, receive, send if kind == "websocket" else add_headers(scope, send, headers)
            )
        finally:
            if token is not None:
                end_request(scope, facts, token)

    def _supported(self) -> tuple[str, ...]:
        now = time.time()
        return tuple(
            version
            for version, served in self._served.items()
            if served.sunset is None or now < served.sunset
        )

    def _unknown(self) -> VersionRefusal:
        return VersionRefusal(
            400,
            kind="unknown-api-version",
            title="Unknown API version",
            detail=(
                f"the {self.header_name} header names no version this service serves; "
                f"send one of the supported versions, or none for version {self.default}"
            ),
            supported_versions=self._supported(),
            headers=self._vary,
        )

    def _retired(self, served: _Served) -> VersionRefusal:
        return VersionRefusal(
            410,
            kind="api-version-retired",
            title="API version retired",
            detail=f"API version {served.version} was retired on {served.sunset_text}",
            supported_versions=self._supported(),
            headers=served.headers,
        )


async def answer_refusal(refusal: VersionRefusal, scope: Scope, send: Send) -> None:
    """Answer a request whose version is refused: a problem, or a closed websocket."""
    if scope["type"] == "websocket":
        # Closing before accepting makes the server answer the handshake with 403.
        await send({"type": "websocket.close", "code": 1008})
        return
    await send_problem(send, refusal.problem(scope.get("path")))


class VersioningPlugin:
    """Built-in plugin ``chassis.versioning``: adds :class:`APIVersionMiddleware`.

    The middleware is configured from ``api_versions``, ``default_api_version``,
    ``deprecated_api_versions`` and ``api_deprecation_link``, and leaves refusing
    unknown versions to the versioned routes that ``create_app`` assembles.
    """

    name = "chassis.versioning"

    @hookimpl
    def chassis_middleware(self, settings: ChassisSettings) -> list[MiddlewareSpec]:
        """Place the version layer inside CORS and outside the transaction layer."""
        # Checked now, so a bad configuration stops create_app rather than the
        # first request.
        _served_versions(
            settings.api_versions,
            settings.deprecated_api_versions,
            deprecation_link=settings.api_deprecation_link,
        )
        options: dict[str, object] = {
            "versions": list(settings.api_versions),
            "default": settings.default_api_version,
            "deprecations": dict(settings.deprecated_api_versions),
            "deprecation_link": settings.api_deprecation_link,
            "defer_refusal": True,
        }
        return [MiddlewareSpec(APIVersionMiddleware, options, order=MiddlewareOrder.VERSIONING)]
