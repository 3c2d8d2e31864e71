"""Strong ETags from row versions, and ``If-Match`` preconditions (RFC 9110).

An ETag names one representation: the same row (same ``version``) rendered by two
API versions is two representations, so the tag holds both: ``"7.2"`` is row
version 7 as served by API version 2. ``If-Match`` compares strongly, so a weak
tag (``W/"7.2"``) never matches, and neither does a tag made for another API
version: the client must re-read before it writes.

Example:
    ```python
    @router.get("/products/{product_id}")
    async def read(product_id: UUID, response: Response, session: SessionDep):
        product = await AsyncRepository(session, Product).get(product_id)
        response.headers["ETag"] = etag_for(product.version)
        return product

    @router.put("/products/{product_id}")
    async def replace(product_id: UUID, body: ProductIn, session: SessionDep,
                      version: int = Depends(require_if_match)):
        return await AsyncRepository(session, Product).update(
            product_id, body.model_dump(), expected_version=version)
    ```
"""

from __future__ import annotations

import re

from fastapi import Request

from fastapi_chassis.api.facts import current_facts
from fastapi_chassis.errors import ChassisError

__all__ = [
    "PreconditionFailed",
    "PreconditionRequired",
    "etag_for",
    "if_match_version",
    "optional_if_match",
    "parse_if_match",
    "require_if_match",
]

_TAG = re.compile(r'(W/)?"([\x21\x23-\x7e]*)"')


class PreconditionFailed(ChassisError):
    """``If-Match`` names no current representation of the resource (HTTP 412)."""


class PreconditionRequired(ChassisError):
    """The route only accepts conditional writes and no ``If-Match`` came (HTTP 428)."""


def _current_api_version() -> str | None:
    facts = current_facts()
    return facts.api_version if facts is not None else None


def etag_for(version: int, api_version: str | None = None) -> str:
    """Return the strong ETag for a row version, as served by an API version.

    Args:
        version: The row's version (from :class:`~fastapi_chassis.db.VersionMixin`).
        api_version: The API version; by default the one serving the current request.
    """
    served = api_version if api_version is not None else _current_api_version()
    return f'"{version}.{served}"' if served else f'"{version}"'


def parse_if_match(header: str, api_version: str | None = None) -> int | None:
    """Return the row version an ``If-Match`` header asks for; ``None`` for ``*``.

    Raises:
        PreconditionFailed: If the header holds no strong tag for this API version,
            or several tags (a write must be based on exactly one version).
    """
    header = header.strip()
    if header == "*":
        return None
    served = api_version if api_version is not None else _current_api_version()
    items = [item.strip() for item in header.split(",")]
    match = _TAG.fullmatch(items[0]) if len(items) == 1 else None
    if match is None:
        raise PreconditionFailed("If-Match must hold exactly one ETag")
    weak, tag = match.groups()
    if weak:
        raise PreconditionFailed("a weak ETag never matches If-Match; send the strong ETag")
    version_text, _, tag_api = tag.partition(".")
    if (tag_api or None) != (served or None) or not version_text.isdigit():
        raise PreconditionFailed("the ETag does not match the current representation")
    return int(version_text)


def if_match_version(request: Request) -> int | None:
    """Return the version ``If-Match`` asks for; ``None`` when absent or ``*``."""
    header = request.headers.get("if-match")
    return None if header is None else parse_if_match(header)


async def optional_if_match(request: Request) -> int | None:
    """FastAPI dependency: the ``If-Match`` version, if the client sent one."""
    return if_match_version(request)


async def require_if_match(request: Request) -> int:
    """FastAPI dependency: the ``If-Match`` version; 428 when absent, 412 when unusable."""
    header = request.headers.get("if-match")
    if header is None:
        raise PreconditionRequired("this write needs an If-Match header with the resource's ETag")
    version = parse_if_match(header)
    if version is None:
        raise PreconditionRequired("If-Match: * does not name a version; send the ETag")
    return version
