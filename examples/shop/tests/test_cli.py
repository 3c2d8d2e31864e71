"""The ``shop`` command: what it offers, and what it refuses."""

import os
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shop.cli import cli, prepare_multiprocess_metrics
from shop.embedded import data_dir
from shop.money import cents_from_amount, format_cents


def test_the_command_lists_its_subcommands() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in ("demo", "serve", "migrate"):
        assert command in result.output


def test_the_demo_never_empties_a_database_it_was_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://app@db.invalid/shop")
    result = CliRunner().invoke(cli, ["demo", "--reseed"])
    assert result.exit_code == 2
    assert "embedded" in result.output


def test_workers_get_an_empty_metrics_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "counter_123.db").write_bytes(b"left by a worker of the last run")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    prepare_multiprocess_metrics()
    assert list(directory.iterdir()) == []
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(directory)


def test_without_a_directory_workers_get_a_new_one(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PROMETHEUS_MULTIPROC_DIR", "CHASSIS_METRICS_MULTIPROCESS_DIR"):
        # Set, then deleted: monkeypatch then removes what the command sets.
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    prepare_multiprocess_metrics()
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    assert directory.is_dir()
    directory.rmdir()


def test_the_embedded_server_lives_in_the_cache_unless_told_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SHOP_DEMO_DATA_DIR", raising=False)
    assert "fastapi-chassis-shop" in data_dir().parts
    monkeypatch.setenv("SHOP_DEMO_DATA_DIR", str(tmp_path / "pg"))
    assert data_dir() == tmp_path / "pg"


@pytest.mark.parametrize(
    ("cents", "text"), [(0, "0.00"), (5, "0.05"), (1250, "12.50"), (99, "0.99")]
)
def test_amounts_are_shown_with_two_decimals(cents: int, text: str) -> None:
    assert format_cents(cents) == text
    assert cents_from_amount(Decimal(text)) == cents


def test_fractions_of_a_cent_are_refused() -> None:
    with pytest.raises(ValueError, match="fractions of a cent"):
        cents_from_amount(Decimal("0.001"))
