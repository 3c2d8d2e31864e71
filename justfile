# The everyday commands of fastapi-chassis; `just --list` is the map of the project.
# Each recipe calls a nox session (nox makes and caches the environments) or the
# `chassis` command. Install just from PyPI: `pip install rust-just`.

# Show the recipes.
default:
    @just --list

# Run the test suite with coverage (embedded PostgreSQL unless CHASSIS_TEST_DATABASE_URL is set).
test *args:
    nox -s tests-3.11 -- {{args}}

# Run the test suite on every supported Python.
test-all:
    nox -s tests

# Lint everything: ruff, SQLFluff, hadolint, secrets, file hygiene, actionlint.
lint:
    nox -s lint

# Type-check src, tests, benchmarks and docs examples with mypy --strict.
typecheck:
    nox -s typecheck

# Lint the SQL and check the installed PL/pgSQL with plpgsql_check.
sql:
    nox -s sql

# Build the documentation site (strict).
docs:
    nox -s docs

# Run the benchmarks; each prints ratios against a baseline measured in the same run.
bench *args:
    nox -s bench -- {{args}}

# Check dependencies for known vulnerabilities and the tree for committed secrets.
audit:
    nox -s audit secrets

# Build and check the distributions.
build:
    nox -s build

# Everything CI runs, in the same order.
ci:
    bash .ci/run

# Run the example shop on http://127.0.0.1:8000 (embedded PostgreSQL, black-friday data).
demo:
    cd examples/shop && just demo
