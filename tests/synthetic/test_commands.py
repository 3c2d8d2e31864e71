"""``chassis synth list`` and ``chassis synth run``, through the real ``chassis`` command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fastapi_chassis import ChassisSettings, create_app
from fastapi_chassis.cli import build_cli
from tests.synthetic.app import create_shop_app
from tests.synthetic.conftest import run_query

pytestmark = pytest.mark.db

ROOT = Path(__file__).parents[2]


def _invoke(database_url: str | None, *args: str) -> tuple[int, str, str]:
    app = create_shop_app(ChassisSettings(database_url=database_url))
    result = CliRunner().invoke(build_cli(app), list(args))
    return result.exit_code, result.stdout, result.stderr


def test_list_shows_the_builtin_and_the_applications_scenarios() -> None:
    code, out, _ = _invoke(None, "synth", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["SCENARIO", "WINDOW", "ORDERS", "DESCRIPTION"]
    names = [line.split()[0] for line in lines[1:]]
    assert names == ["steady", "seasonal", "black-friday", "tiny"]
    assert "2024-09-01 +122d" in out


def test_run_loads_the_scenario_and_reports_rows_and_rate(shop_url: str) -> None:
    code, out, err = _invoke(
        None, "synth", "run", "black-friday", "--scale", "1500", "--seed", "3",
        "--database-url", shop_url,
    )  # fmt: skip
    assert code == 0, err
    assert "rows/s" in out
    assert "syn_orders 1,500" in out
    assert run_query(shop_url, "SELECT count(*) FROM syn_orders") == 1_500
    # The progress bar went to standard error, with the rate.
    assert "black-friday" in err
    assert "rows/s" in err


def test_run_uses_the_applications_database_by_default(shop_url: str) -> None:
    code, out, err = _invoke(shop_url, "synth", "run", "tiny", "--quiet")
    assert code == 0, err
    assert err == ""
    assert out.startswith("Loaded ")
    assert run_query(shop_url, "SELECT count(*) FROM syn_orders") > 0


def test_an_unknown_scenario_is_a_one_line_usage_error() -> None:
    code, out, err = _invoke(
        None, "synth", "run", "cyber-tuesday", "--database-url", "postgresql://x@h/db"
    )
    assert code == 2
    assert out == ""
    expected = (
        "chassis synth: error: unknown scenario 'cyber-tuesday'; known scenarios: "
        "black-friday, seasonal, steady, tiny"
    )
    assert err.splitlines() == [expected]


def test_an_unreachable_database_is_a_one_line_error() -> None:
    code, _, err = _invoke(
        None, "synth", "run", "tiny", "--quiet", "--database-url",
        "postgresql://postgres@127.0.0.1:1/nowhere",
    )  # fmt: skip
    assert code == 1
    lines = err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("chassis synth: error: cannot load into postgresql+asyncpg://")
    assert "127.0.0.1:1/nowhere" in lines[0]


def test_no_database_at_all_is_a_usage_error() -> None:
    code, _, err = _invoke(None, "synth", "run", "tiny")
    assert code == 2
    assert "--database-url" in err


def test_the_chassis_command_finds_the_application_with_app(shop_url: str) -> None:
    environment = {**os.environ, "CHASSIS_DATABASE_URL": shop_url}
    result = subprocess.run(
        [
            sys.executable, "-m", "fastapi_chassis.cli",
            "--app", "tests.synthetic.app:create_shop_app",
            "synth", "run", "tiny", "--seed", "2", "--quiet",
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Loaded ")
    assert run_query(shop_url, "SELECT count(*) FROM syn_orders") > 0


def test_an_application_without_factories_says_which_roles_to_bind() -> None:
    app = create_app(ChassisSettings())
    result = CliRunner().invoke(
        build_cli(app), ["synth", "run", "steady", "--database-url", "postgresql://x@h/db"]
    )
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    assert "no factory is bound to the role(s) customer, product, order, order_item" in line
