"""One OpenAPI document per API version, and a Swagger UI that switches between them.

A client of version 2 needs the document of version 2: the routes that version
serves (its own and the inherited ones, without the removed ones) and nothing
else. Each document lists exactly those, plus the routes outside versioning,
and declares the ``X-API-Version`` header on every operation with the
version's value as its only allowed value, so Swagger UI's "Try it out" and
schemathesis send requests that reach the version the document describes.

With ``openapi_url="/openapi.json"`` (FastAPI's default) the documents are
served at ``/openapi/v{version}.json``; ``/openapi.json`` itself (and ReDoc)
shows the default version; ``/docs`` is Swagger UI with a picker over all of
them. Documents are built on first use and rebuilt only when the
application's routes change.
"""

from __future__ import annotations

import html
import json
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any, cast

from fastapi.openapi.docs import swagger_ui_default_parameters
from fastapi.openapi.utils import get_openapi
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from fastapi_chassis.api.problems import PROBLEM_CONTENT_TYPE
from fastapi_chassis.api.versioning import API_VERSION_HEADER
from fastapi_chassis.errors import ConfigurationError

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.requests import Request
    from starlette.routing import BaseRoute

    from fastapi_chassis.api.versioning_routes import VersionedRoutes
    from fastapi_chassis.settings import APIDeprecation, ChassisSettings

__all__ = ["VersionedOpenAPI", "install_versioned_docs", "openapi_for", "openapi_url_for"]

_STATE_ATTRIBUTE = "api_version_documents"
_PROBLEM_SCHEMA_NAME = "APIVersionProblem"
# A 400 also answers other bad requests (a body that is not UTF-8, say), which
# carry no supported_versions: only the RFC 9457 members are required.
_PROBLEM_SCHEMA: dict[str, Any] = {
    "title": _PROBLEM_SCHEMA_NAME,
    "description": (
        "RFC 9457 problem details; a refused API version lists the supported versions."
    ),
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "supported_versions": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["type", "title", "status"],
}
_OPERATIONS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
# The assets FastAPI's own /docs page loads, plus the preset that draws the picker.
_SWAGGER_DIST = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/"
_FAVICON = "https://fastapi.tiangolo.com/img/favicon.png"


def openapi_url_for(openapi_url: str, version: str) -> str:
    """Return where the document of ``version`` is served, next to ``openapi_url``.

    Example:
        >>> openapi_url_for("/openapi.json", "2")
        '/openapi/v2.json'
    """
    return f"{openapi_url.removesuffix('.json')}/v{version}.json"


class VersionedOpenAPI:
    """Builds, and keeps, the OpenAPI document of each API version of an application.

    Besides the header, each versioned operation documents the answers the
    header can bring: 400 for a version the service does not serve and, for a
    version with a sunset, 410 once it has passed.

    Args:
        app: The application.
        versioned: Its versioned routes.
        deprecations: The deprecated versions; their own operations are marked
            deprecated.
        header_name: The header that selects the version.
    """

    def __init__(
        self,
        app: FastAPI,
        versioned: VersionedRoutes,
        *,
        deprecations: Mapping[str, APIDeprecation] | None = None,
        header_name: str = API_VERSION_HEADER,
    ) -> None:
        self.app = app
        self.versioned = versioned
        deprecations = deprecations or {}
        self.deprecated = frozenset(deprecations)
        self.retiring = frozenset(
            version for version, deprecation in deprecations.items() if deprecation.sunset
        )
        self.header_name = header_name
        self._documents: dict[str, tuple[tuple[int, ...], dict[str, Any]]] = {}

    def document(self, version: str) -> dict[str, object]:
        """Return the OpenAPI document of ``version`` (built once, then kept).

        Raises:
            KeyError: If ``version`` is not served.
        """
        return self._document(version)

    def default_document(self) -> dict[str, object]:
        """Return the document of the default version (what ``app.openapi()`` returns)."""
        return self._document(self.versioned.default_version)

    def _document(self, version: str) -> dict[str, Any]:
        own = self.versioned.routes_for(version)
        others = [route for route in self.app.router.routes if route is not self.versioned]
        # Routes added after a document was built (app.get(...) after create_app)
        # change this key and so the document.
        key = tuple(map(id, others))
        kept = self._documents.get(version)
        if kept is not None and kept[0] == key:
            return kept[1]
        document = self._build(version, own, others)
        self._documents[version] = (key, document)
        return document

    def _build(self, version: str, own: list[BaseRoute], others: list[BaseRoute]) -> dict[str, Any]:
        app = self.app
        description = app.description
        if version in self.deprecated:
            note = f"API version {version} is deprecated."
            description = f"{description}\n\n{note}" if description else note
        document = get_openapi(
            title=app.title,
            version=version,
            openapi_version=app.openapi_version,
            summary=app.summary,
            description=description,
            routes=[*own, *others],
            webhooks=app.webhooks.routes,
            tags=app.openapi_tags,
            servers=app.servers,
            terms_of_service=app.terms_of_service,
            contact=app.contact,
            license_info=app.license_info,
            separate_input_output_schemas=app.separate_input_output_schemas,
            external_docs=app.openapi_external_docs,
        )
        versioned_operations = {
            (getattr(route, "path_format", None), method.lower())
            for route in own
            for method in (getattr(route, "methods", None) or ())
        }
        parameter = self._header_parameter(version)
        refusals = self._refusals(version)
        deprecated = version in self.deprecated
        for path, item in document.get("paths", {}).items():
            for method, operation in item.items():
                if method not in _OPERATIONS:
                    continue
                parameters = operation.setdefault("parameters", [])
                if not any(_is_header(entry, self.header_name) for entry in parameters):
                    parameters.append(dict(parameter))
                if (path, method) not in versioned_operations:
                    continue  # outside versioning: the header changes nothing there
                responses = operation.setdefault("responses", {})
                for status, response in refusals.items():
                    responses.setdefault(status, response)
                if deprecated:
                    operation["deprecated"] = True
        if refusals:
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            schemas.setdefault(_PROBLEM_SCHEMA_NAME, _PROBLEM_SCHEMA)
        return document

    def _refusals(self, version: str) -> dict[str, Any]:
        content = {
            PROBLEM_CONTENT_TYPE: {
                "schema": {"$ref": f"#/components/schemas/{_PROBLEM_SCHEMA_NAME}"}
            }
        }
        refusals = {
            "400": {
                "description": f"The {self.header_name} header names no version served here.",
                "content": content,
            }
        }
        if version in self.retiring:
            refusals["410"] = {
                "description": f"API version {version} is past its sunset.",
                "content": content,
            }
        return refusals

    def _header_parameter(self, version: str) -> dict[str, Any]:
        default = version == self.versioned.default_version
        schema: dict[str, Any] = {"type": "string", "enum": [version]}
        if default:
            schema["default"] = version
        return {
            "name": self.header_name,
            "in": "header",
            "required": not default,
            "description": f"Selects API version {version}"
            + (" (also used when the header is absent)." if default else "."),
            "schema": schema,
        }


def _is_header(entry: object, name: str) -> bool:
    return (
        isinstance(entry, dict)
        and entry.get("in") == "header"
        and str(entry.get("name", "")).lower() == name.lower()
    )


def openapi_for(app: FastAPI, version: str) -> dict[str, object]:
    """Return the OpenAPI document of one API version of an application.

    Args:
        app: An application built with ``create_app``.
        version: One of its API versions.

    Raises:
        ConfigurationError: If ``app`` has no versioned routes.
        KeyError: If ``version`` is not one of its versions.

    Example:
        >>> document = openapi_for(app, "2")
        >>> sorted(document["paths"])
        ['/health/live', '/health/ready', '/orders', '/orders/{order_id}']
    """
    documents = getattr(app.state, _STATE_ATTRIBUTE, None)
    if not isinstance(documents, VersionedOpenAPI):
        raise ConfigurationError("this application has no versioned routes; use create_app()")
    return documents.document(version)


def _json_for_html(value: object) -> str:
    # Inside <script>, "</script>" or "<!--" in a title would end the script.
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _swagger_page(
    app: FastAPI, urls: list[dict[str, str]], primary: str, root_path: str
) -> HTMLResponse:
    config: dict[str, object] = {
        **swagger_ui_default_parameters,
        "layout": "StandaloneLayout",
        **(app.swagger_ui_parameters or {}),
        "urls": urls,
        "urls.primaryName": primary,
    }
    redirect = app.swagger_ui_oauth2_redirect_url
    lines = [
        "<!DOCTYPE html>",
        "<html>",
        "<head>",
        '<meta name="viewport" content="width=device-width, initial-scale=1.0">',
        f'<link type="text/css" rel="stylesheet" href="{_SWAGGER_DIST}swagger-ui.css">',
        f'<link rel="shortcut icon" href="{_FAVICON}">',
        f"<title>{html.escape(app.title)} - Swagger UI</title>",
        "</head>",
        "<body>",
        '<div id="swagger-ui"></div>',
        f'<script src="{_SWAGGER_DIST}swagger-ui-bundle.js"></script>',
        f'<script src="{_SWAGGER_DIST}swagger-ui-standalone-preset.js"></script>',
        "<script>",
        f"const config = {_json_for_html(config)};",
        "config.presets = [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset];",
        "config.plugins = [SwaggerUIBundle.plugins.DownloadUrl];",
    ]
    if redirect:
        lines.append(
            f"config.oauth2RedirectUrl = window.location.origin + "
            f"{_json_for_html(root_path + redirect)};"
        )
    lines.append("const ui = SwaggerUIBundle(config);")
    if app.swagger_ui_init_oauth:
        lines.append(f"ui.initOAuth({_json_for_html(app.swagger_ui_init_oauth)});")
    lines += ["</script>", "</body>", "</html>"]
    return HTMLResponse("\n".join(lines))


def _label(version: str, deprecated: Collection[str]) -> str:
    return f"API version {version}" + (" (deprecated)" if version in deprecated else "")


def install_versioned_docs(
    app: FastAPI, versioned: VersionedRoutes, settings: ChassisSettings
) -> VersionedOpenAPI:
    """Serve a document per API version and a Swagger UI that picks between them.

    ``app.openapi()`` (so ``/openapi.json`` and ReDoc) returns the default
    version's document. Without an ``openapi_url`` no document is served, and
    without a ``docs_url`` there is no Swagger UI; :func:`openapi_for` works either
    way.

    Args:
        app: The application.
        versioned: Its versioned routes.
        settings: The settings (``deprecated_api_versions``).

    Returns:
        The object that builds the documents.
    """
    deprecated = frozenset(settings.deprecated_api_versions)
    documents = VersionedOpenAPI(app, versioned, deprecations=settings.deprecated_api_versions)
    setattr(app.state, _STATE_ATTRIBUTE, documents)
    app.openapi = documents.default_document  # type: ignore[method-assign]
    openapi_url = app.openapi_url
    if not openapi_url:
        return documents

    def serve(version: str) -> Route:
        async def openapi_document(request: Request) -> JSONResponse:
            document = documents.document(version)
            root_path = request.scope.get("root_path", "").rstrip("/")
            if root_path and app.root_path_in_servers:
                servers = cast("list[dict[str, object]]", document.get("servers", []))
                if root_path not in {server.get("url") for server in servers}:
                    document = {**document, "servers": [{"url": root_path}, *servers]}
            return JSONResponse(document)

        return Route(
            openapi_url_for(openapi_url, version),
            openapi_document,
            name=f"openapi_v{version}",
            include_in_schema=False,
        )

    app.router.routes.extend(serve(version) for version in versioned.versions)
    if app.docs_url:

        async def swagger_ui(request: Request) -> HTMLResponse:
            root_path = request.scope.get("root_path", "").rstrip("/")
            urls = [
                {
                    "url": root_path + openapi_url_for(openapi_url, version),
                    "name": _label(version, deprecated),
                }
                for version in reversed(versioned.versions)
            ]
            primary = _label(versioned.default_version, deprecated)
            return _swagger_page(app, urls, primary, root_path)

        # Replace FastAPI's page, in place, so routes added earlier keep their order.
        routes = app.router.routes
        for index, route in enumerate(routes):
            if isinstance(route, Route) and route.path == app.docs_url:
                routes[index] = Route(app.docs_url, swagger_ui, include_in_schema=False)
                break
    return documents
