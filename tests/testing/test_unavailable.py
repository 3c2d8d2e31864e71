"""Without pytest-asyncio, asking for a fixture says what to install."""

from __future__ import annotations

import pytest

from fastapi_chassis.testing import fixtures, unavailable

FIXTURE_NAMES = (
    "chassis_metadata",
    "chassis_postgres",
    "chassis_database_url",
    "db_engine",
    "db_session",
    "committed_db",
    "chassis_app",
    "client",
    "captured_events",
    "captured_logs",
    "chassis_migrations",
)


def fixture_names(module: object) -> set[str]:
    """The public fixtures a module defines (internal ones start with an underscore)."""
    fixture_type = type(unavailable.db_session)
    return {
        name
        for name, value in vars(module).items()
        if isinstance(value, fixture_type) and not name.startswith("_")
    }


def test_every_fixture_has_a_stand_in() -> None:
    assert fixture_names(unavailable) == fixture_names(fixtures) == set(FIXTURE_NAMES)


def test_asking_for_any_fixture_names_what_to_install(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(
        "\n".join(f"def test_{name}({name}):\n    pass\n" for name in FIXTURE_NAMES)
    )

    # In-process: the stand-ins hold no state, and this way coverage sees them.
    result = pytester.runpytest_inprocess(
        "-p", "no:asyncio", "-p", "no:cacheprovider", "-W", "error"
    )

    result.assert_outcomes(errors=len(FIXTURE_NAMES))
    output = result.stdout.str()
    assert "not found" not in output
    for name in FIXTURE_NAMES:
        assert f"ERROR at setup of test_{name}" in output
    assert output.count("need the pytest-asyncio plugin") >= len(FIXTURE_NAMES)
    assert "pip install 'fastapi-chassis[testing]'" in output
