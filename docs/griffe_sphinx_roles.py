"""Turn Sphinx cross-reference roles in docstrings into mkdocstrings cross-references.

The package's docstrings use reStructuredText roles (``:class:`~sqlalchemy.orm.Session```)
so they read well in editors and ``help()``. Markdown would show the role literally;
this Griffe extension rewrites each role, once the package is loaded, into an
*optional* autorefs link: it links when the target is documented on this site and
renders as plain code otherwise (SQLAlchemy, the standard library), without a
warning, so ``mkdocs build --strict`` stays meaningful.

Names are resolved the way Sphinx resolves them: as written, then relative to the
enclosing class, module and packages. A leading ``~`` shows only the last part, and
``title <target>`` shows the title.
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING, Any

import griffe

if TYPE_CHECKING:
    from collections.abc import Iterator

    from typing_extensions import override
else:
    # The docs environment has no typing_extensions; the decorator only informs mypy.
    def override(method: object) -> object:
        return method


_ROLE = re.compile(
    r":(?:py:)?(?:class|func|meth|mod|data|attr|exc|obj|const):`(?P<text>[^`]+)`",
)
_TITLED = re.compile(r"(?P<title>.+?)\s*<(?P<target>[^>]+)>")


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles in every docstring of the loaded package."""

    @override
    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **_: Any) -> None:
        """Rewrite the docstrings once every module of the package is loaded."""
        for obj in _walk(pkg):
            if obj.docstring is not None:
                obj.docstring.value = _rewrite(obj.docstring.value, obj, loader)


def _rewrite(text: str, scope: griffe.Object, loader: griffe.GriffeLoader) -> str:
    def replace(match: re.Match[str]) -> str:
        return _autoref(match["text"], scope, loader)

    return _ROLE.sub(replace, text)


def _walk(obj: griffe.Object) -> Iterator[griffe.Object]:
    yield obj
    for member in obj.members.values():
        # Aliases (re-exports) share their target's docstring: visit it once, at home.
        if isinstance(member, griffe.Object):
            yield from _walk(member)


def _autoref(text: str, scope: griffe.Object, loader: griffe.GriffeLoader) -> str:
    titled = _TITLED.fullmatch(text)
    if titled:
        title, target = titled["title"], titled["target"]
    else:
        target = text.lstrip("~")
        title = target.rsplit(".", 1)[-1] if text.startswith("~") else target
    identifier = _resolve(target.lstrip("."), scope, loader)
    title_html = f"<code>{html.escape(title)}</code>"
    return f'<autoref identifier="{html.escape(identifier)}" optional>{title_html}</autoref>'


def _resolve(target: str, scope: griffe.Object, loader: griffe.GriffeLoader) -> str:
    """Return the full path ``target`` names from ``scope``, or ``target`` unchanged."""
    candidates = [target]
    current: griffe.Object | None = scope
    while current is not None:
        candidates.append(f"{current.path}.{target}")
        current = current.parent
    for candidate in candidates:
        try:
            loader.modules_collection.get_member(candidate)
        except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
            continue
        return candidate
    return target
