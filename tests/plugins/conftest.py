"""Installed distributions that provide plugins, and apps built without a database."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from textwrap import dedent

import pytest
from fastapi import FastAPI

from fastapi_chassis import ChassisSettings, create_app

Install = Callable[[str, Mapping[str, str], Mapping[str, str]], None]
"""install(distribution, {entry point: "module:attribute"}, {module: source})."""


@pytest.fixture(name="site_packages")
def site_packages_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty directory on ``sys.path``, where :func:`install` puts distributions."""
    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    return site


@pytest.fixture(name="install")
def install_fixture(site_packages: Path) -> Iterator[Install]:
    """Make distributions with ``fastapi_chassis`` entry points visible, as pip would.

    Each one is a real ``*.dist-info`` directory (METADATA, entry_points.txt) next
    to its modules in a directory on ``sys.path``, where ``importlib.metadata``
    finds it like any installed package.
    """
    site = site_packages
    written: list[str] = []

    def install(
        distribution: str, entry_points: Mapping[str, str], modules: Mapping[str, str]
    ) -> None:
        for module, source in modules.items():
            (site / f"{module}.py").write_text(dedent(source))
            written.append(module)
        info = site / f"{distribution}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 1.0\n"
        )
        lines = [
            "[fastapi_chassis]",
            *(f"{name} = {target}" for name, target in entry_points.items()),
        ]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        importlib.invalidate_caches()

    yield install
    for module in written:
        sys.modules.pop(module, None)


def build(plugins: Iterable[object] = (), **settings: object) -> FastAPI:
    """create_app() without a database, leaving the test run's logging alone."""
    options: dict[str, object] = {"log_configure": False, **settings}
    return create_app(ChassisSettings.model_validate(options), plugins=plugins)
