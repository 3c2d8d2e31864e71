"""Running the shop's Alembic migrations from code (``shop migrate``, ``shop demo``).

The migrations live next to the project (``alembic.ini``, ``alembic/``), where
``alembic`` finds them from a checkout; a wheel carries a copy inside the package
(``shop/_migrations``), so an installed service migrates without its sources.
"""

import os
from importlib.resources import as_file, files
from pathlib import Path

from alembic import command
from alembic.config import Config

CONFIG_ENV = "SHOP_ALEMBIC_CONFIG"
"""Names the ``alembic.ini`` to use, overriding the search below."""


def alembic_ini() -> Path:
    """Return the ``alembic.ini`` of the shop's migrations.

    Looked up in order: :data:`CONFIG_ENV`, the copy packaged in the wheel, the
    project directory of a checkout (an editable install).

    Raises:
        FileNotFoundError: If none of them exists.
    """
    candidates: list[Path] = []
    if configured := os.environ.get(CONFIG_ENV):
        candidates.append(Path(configured))
    with as_file(files("shop")) as package:
        candidates.append(Path(package) / "_migrations" / "alembic.ini")
        candidates.append(Path(package).parents[1] / "alembic.ini")
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"cannot find the shop's alembic.ini (looked at {', '.join(map(str, candidates))}); "
        f"set {CONFIG_ENV}"
    )


def alembic_config(database_url: str | None = None) -> Config:
    """Return the Alembic configuration, for a database URL or the environment's.

    Args:
        database_url: The database to migrate; ``CHASSIS_DATABASE_URL`` or
            ``DATABASE_URL`` when omitted (as ``alembic`` on the command line).
    """
    config = Config(str(alembic_ini()))
    # The caller has configured logging; alembic.ini's would replace it.
    config.attributes["configure_logger"] = False
    if database_url is not None:
        config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str | None = None, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (the newest by default)."""
    command.upgrade(alembic_config(database_url), revision)
