from __future__ import annotations

import pytest
from pydantic import ValidationError

from fastapi_chassis import ChassisSettings, ConfigurationError


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for name in ("DATABASE_URL", "CHASSIS_DATABASE_URL", "CHASSIS_ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(str(tmp_path))  # no stray .env file


def test_reads_prefixed_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    # pragma: allowlist nextline secret
    monkeypatch.setenv("CHASSIS_DATABASE_URL", "postgresql://app:s3cret@db:5432/shop")
    monkeypatch.setenv("CHASSIS_DB_POOL_SIZE", "3")
    monkeypatch.setenv("CHASSIS_API_VERSIONS", '["1", "2"]')
    settings = ChassisSettings()
    assert settings.database_url is not None
    expected = "postgresql+asyncpg://app:s3cret@db:5432/shop"  # pragma: allowlist secret
    assert settings.database_url.get_secret_value() == expected
    assert settings.db_pool_size == 3
    assert settings.api_versions == ["1", "2"]
    assert settings.default_api_version == "1"


def test_accepts_the_conventional_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://app@db/shop")
    settings = ChassisSettings()
    assert settings.require_database_url().drivername == "postgresql+asyncpg"


def test_secrets_never_show_in_repr() -> None:
    settings = ChassisSettings(database_url="postgresql://app:s3cret@db:5432/shop")
    assert "s3cret" not in repr(settings)
    assert "s3cret" not in str(settings.model_dump())


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "is not a database URL"),
        ("mysql://app@db/shop", "uses 'mysql'"),
        ("postgresql+psycopg://app@db/shop", "uses 'postgresql\\+psycopg'"),
        ("postgresql://app@db", "names no database"),
    ],
)
def test_malformed_database_urls_get_a_clear_error(url: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ChassisSettings(database_url=url)


def test_missing_database_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="CHASSIS_DATABASE_URL"):
        ChassisSettings().require_database_url()


def test_api_version_settings_are_checked() -> None:
    with pytest.raises(ValidationError, match="not one of"):
        ChassisSettings(api_versions=["1"], default_api_version="2")
    with pytest.raises(ValidationError, match="duplicates"):
        ChassisSettings(api_versions=["1", "1"])
    with pytest.raises(ValidationError, match="at least one"):
        ChassisSettings(api_versions=[])
    with pytest.raises(ValidationError, match="not served"):
        ChassisSettings(api_versions=["1"], deprecated_api_versions={"0": ""})
    assert (
        ChassisSettings(api_versions=["1", "2"], default_api_version="2").default_api_version == "2"
    )


def test_log_level_is_case_insensitive() -> None:
    assert ChassisSettings(log_level="debug").log_level == "DEBUG"


def test_the_prefixed_variable_wins_over_the_conventional_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://platform@db/platform")
    monkeypatch.setenv("CHASSIS_DATABASE_URL", "postgresql://chassis@db/chassis")
    assert ChassisSettings().require_database_url().database == "chassis"
    # An explicit argument wins over both.
    assert ChassisSettings(database_url="postgresql://x@y/z").require_database_url().database == "z"
