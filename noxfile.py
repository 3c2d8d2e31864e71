"""Development sessions: tests, lint, typecheck, docs and benchmarks.

``nox -l`` lists them. Every session installs the project in editable mode, so
``nox -R`` (reuse the virtualenv, skip the installs) runs against the current
source. Arguments after ``--`` go to the session's tool: ``nox -s tests-3.11 --
-k repository -x``.

The tests need a PostgreSQL server; the pytest plugin uses
``CHASSIS_TEST_DATABASE_URL`` when it is set and otherwise starts one itself
(Docker, else the embedded PostgreSQL 18 from the ``testing`` extra).
"""

from __future__ import annotations

import os
from pathlib import Path

import nox
from nox.project import dependency_groups, load_toml, python_versions

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "virtualenv"
nox.options.reuse_venv = "yes"
# The benchmarks compare throughput, which a busy machine skews: run them on request.
nox.options.sessions = ["tests", "lint", "typecheck", "docs"]

ROOT = Path(__file__).parent
PYPROJECT = load_toml(ROOT / "pyproject.toml")
# The trove classifiers are the single list of supported versions.
PYTHONS = python_versions(PYPROJECT)
COVERAGE_DIR = ROOT / ".nox" / "coverage"
# Everything Python that lint and typecheck look at; ``examples`` arrives later.
CODE = ("src", "tests", "benchmarks", "docs", "examples", "noxfile.py")


def _existing(paths: tuple[str, ...]) -> list[str]:
    return [path for path in paths if (ROOT / path).exists()]


def _install_project(session: nox.Session, extras: str, *groups: str) -> None:
    # The groups may name the project itself ("fastapi-chassis[testing]"); pip
    # satisfies that with the editable checkout given in the same command.
    target = f".[{extras}]" if extras else "."
    session.install("-e", target, *dependency_groups(PYPROJECT, *groups))


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite with branch coverage.

    Without arguments the run fails below ``fail_under`` in pyproject.toml; with
    pytest arguments (usually a subset of the suite) the report is only printed.
    Each run keeps its coverage data apart, by session and by where the database
    came from, so a second run against another server does not overwrite it.
    """
    _install_project(session, "testing", "test")
    server = "external" if os.environ.get("CHASSIS_TEST_DATABASE_URL") else "provisioned"
    data_dir = COVERAGE_DIR / f"{session.name}-{server}"
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {"COVERAGE_FILE": str(data_dir / ".coverage")}
    # Stale parallel files from an interrupted run would be combined into this one.
    session.run("coverage", "erase", env=env)
    session.run("coverage", "run", "-m", "pytest", *session.posargs, env=env)
    session.run("coverage", "combine", "--quiet", env=env)
    report = ["coverage", "report"]
    if session.posargs:
        report.append("--fail-under=0")
    session.run(*report, env=env)


@nox.session
def lint(session: nox.Session) -> None:
    """Check style and formatting with ruff (ruff check --fix and ruff format repair most)."""
    session.install(*dependency_groups(PYPROJECT, "lint"))
    targets = _existing(CODE)
    session.run("ruff", "check", *targets, *session.posargs)
    session.run("ruff", "format", "--check", *targets)


@nox.session
def typecheck(session: nox.Session) -> None:
    """Type-check the package, tests, docs code, benchmarks and noxfile with mypy --strict."""
    # The docs group brings griffe, which the docs' extension imports, and the
    # noxfile imports nox: installed, they are type-checked, not guessed.
    _install_project(session, "testing", "typecheck", "docs")
    session.install("nox")
    session.run("mypy", *_existing(CODE), *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site; any warning fails the build."""
    # mkdocstrings reads the source from src/ without importing it.
    session.install(*dependency_groups(PYPROJECT, "docs"))
    # Material for MkDocs prints a banner about its successor on every build.
    env = {"NO_MKDOCS_2_WARNING": "1"}
    session.run("mkdocs", "build", "--strict", *session.posargs, env=env)


@nox.session
def bench(session: nox.Session) -> None:
    """Compare UUIDv7 generators with uuid.uuid4; fails when a target ratio is missed."""
    _install_project(session, "", "bench")
    session.run("python", "benchmarks/uuid7_throughput.py", *session.posargs)
