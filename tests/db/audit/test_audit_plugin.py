"""The built-in ``chassis.audit`` plugin, and what importing the audit costs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from fastapi_chassis import ChassisSettings, create_app
from fastapi_chassis.cli import build_cli

runner = CliRunner()


def test_the_plugin_adds_the_audit_commands_to_chassis() -> None:
    cli = build_cli(create_app(ChassisSettings.model_validate({"log_configure": False})))

    result = runner.invoke(cli, ["audit", "--help"])

    assert result.exit_code == 0, result.output
    for command in ("partitions", "prune", "status"):
        assert command in result.output


@pytest.mark.db
def test_the_commands_use_the_database_of_the_application(
    audited_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CHASSIS_DATABASE_URL", raising=False)
    settings = ChassisSettings.model_validate(
        {"database_url": audited_database, "log_configure": False}
    )
    cli = build_cli(create_app(settings))

    result = runner.invoke(cli, ["audit", "status"])

    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].startswith("audit.log_default")


def test_defining_audited_models_loads_neither_alembic_nor_fastapi_nor_typer() -> None:
    probe = (
        "import json, sys\n"
        "from sqlalchemy.orm import Mapped\n"
        "from fastapi_chassis.db import AuditMixin, Base, UUIDv7PrimaryKeyMixin\n"
        "class Thing(UUIDv7PrimaryKeyMixin, AuditMixin, Base):\n"
        "    __tablename__ = 'things'\n"
        "    name: Mapped[str]\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    completed = subprocess.run(  # noqa: S603 - this interpreter, our own probe
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    loaded = {name.partition(".")[0] for name in json.loads(completed.stdout)}

    assert not loaded & {"alembic", "alembic_utils", "fastapi", "typer", "starlette"}
