"""Load the SQL the chassis installs from ``.sql`` files shipped in the package.

The SQL lives in files so that it can be read, reviewed and linted as SQL. Files
that are the same for every table are plain SQL; files that depend on a table
are templates with ``{placeholders}`` (:meth:`str.format` fields) for identifiers
and generated expressions. Leading ``--`` comment lines document a file and are
dropped from the statement.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from sqlalchemy.dialects.postgresql.base import PGDialect

__all__ = ["load_sql", "qualified_name", "quote_identifier", "render_sql"]

_PREPARER = PGDialect().identifier_preparer  # type: ignore[no-untyped-call]


@cache
def load_sql(package: str, name: str) -> str:
    """Return the statement in ``name`` from ``package``, without its header comments.

    Args:
        package: The package that holds the file (``"fastapi_chassis.db.sql"``).
        name: The file name, such as ``"uuid7_function.sql"``.
    """
    text = files(package).joinpath(name).read_text(encoding="utf-8")
    lines = text.splitlines()
    while lines and (not lines[0].strip() or lines[0].lstrip().startswith("--")):
        lines.pop(0)
    return "\n".join(lines).strip()


def render_sql(package: str, name: str, **fields: str) -> str:
    """Fill the placeholders of a SQL template.

    Args:
        package: The package that holds the template.
        name: The template's file name.
        **fields: The value for each placeholder, already quoted where needed.
    """
    return load_sql(package, name).format(**fields)


def quote_identifier(name: str) -> str:
    """Quote ``name`` as a PostgreSQL identifier where it needs quoting."""
    return _PREPARER.quote(name)


def qualified_name(schema: str | None, name: str) -> str:
    """Return ``schema.name`` with each part quoted as needed (``public`` by default)."""
    return f"{quote_identifier(schema or 'public')}.{quote_identifier(name)}"
