"""The ``chassis`` command: finding the application, listing plugins, plugin commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from fastapi_chassis import hookimpl
from fastapi_chassis.app import BUILTIN_PLUGINS
from fastapi_chassis.cli import ApplicationLoadError, build_cli, current_app, load_application
from fastapi_chassis.cli.root import main
from tests.plugins.conftest import (  # noqa: F401 - the fixtures
    Install,
    build,
    install_fixture,
    site_packages_fixture,
)

# The application module a team would point --app at.
SHOP_APP = '''
from fastapi import FastAPI
from fastapi_chassis import ChassisSettings, create_app, hookimpl


class ShopPlugin:
    name = "shop"

    @hookimpl
    def chassis_cli(self, cli):
        @cli.command()
        def hello() -> None:
            """Greet from the shop."""
            print("hello from the shop")


def make_app():
    settings = ChassisSettings.model_validate(
        {"service_name": "shop", "log_configure": False, "plugins_allowlist": []}
    )
    return create_app(settings, plugins=[ShopPlugin()])


def broken_factory():
    raise RuntimeError("no settings for\\nthis environment")


app = make_app()
plain = FastAPI()
number = 42
'''

TENANTS = """
from fastapi_chassis import hookimpl

@hookimpl
def chassis_configure_app(app):
    app.state.tenants = True
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A project directory with ``shop_app.py``, the working directory of the test."""
    directory = tmp_path / "project"
    directory.mkdir()
    (directory / "shop_app.py").write_text(SHOP_APP)
    (directory / "needs_stripe.py").write_text("import stripe_sdk_not_installed\n")
    monkeypatch.chdir(directory)
    # Restores sys.path afterwards, including what main() inserts.
    monkeypatch.syspath_prepend(str(directory))
    yield directory
    for module in ("shop_app", "needs_stripe"):
        sys.modules.pop(module, None)


runner = CliRunner()


def _table(output: str) -> dict[str, tuple[str, str]]:
    """``chassis plugins`` output as {plugin: (source, hooks)}, cut at the header's columns."""
    header, *rows = output.splitlines()
    source, hooks = header.index("SOURCE"), header.index("HOOKS")
    return {row[:source].strip(): (row[source:hooks].strip(), row[hooks:].strip()) for row in rows}


def test_plugins_lists_each_plugin_with_its_source_and_hooks(install: Install) -> None:
    install("tenants-dist", {"tenants": "tenants_plugin"}, {"tenants_plugin": TENANTS})

    class Shop:
        name = "shop"

        @hookimpl
        def chassis_routers(self) -> None:
            return None

        @hookimpl
        def chassis_startup(self) -> None:
            return None

    result = runner.invoke(build_cli(build([Shop()])), ["plugins"])

    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].split() == ["PLUGIN", "SOURCE", "HOOKS"]
    table = _table(result.output)
    assert list(table) == [*(name for name, _ in BUILTIN_PLUGINS), "tenants", "shop"]
    assert table["chassis.correlation"] == ("builtin", "chassis_middleware")
    assert table["tenants"] == ("entry point", "chassis_configure_app")
    assert table["shop"] == ("explicit", "chassis_routers, chassis_startup")


def test_plugins_json_is_machine_readable_and_leaves_disabled_plugins_out() -> None:
    app = build(disabled_plugins=["chassis.cors"], plugins_allowlist=[])

    result = runner.invoke(build_cli(app), ["plugins", "--json"])

    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [row["name"] for row in rows] == [
        name for name, _ in BUILTIN_PLUGINS if name != "chassis.cors"
    ]
    correlation = next(row for row in rows if row["name"] == "chassis.correlation")
    assert correlation == {
        "name": "chassis.correlation",
        "source": "builtin",
        "hooks": ["chassis_middleware"],
    }


def test_plugins_add_commands_that_work_on_the_application() -> None:
    class Reports:
        name = "reports"

        @hookimpl
        def chassis_cli(self, cli: typer.Typer) -> None:
            reports = typer.Typer(help="Reports.")

            @reports.command()
            def service(ctx: typer.Context) -> None:
                """Print the service name."""
                typer.echo(current_app(ctx).state.chassis.settings.service_name)

            cli.add_typer(reports, name="reports")

    cli = build_cli(build([Reports()], service_name="billing"))

    result = runner.invoke(cli, ["reports", "service"])
    help_text = runner.invoke(cli, ["--help"]).output

    assert (result.exit_code, result.output) == (0, "billing\n")
    assert "reports" in help_text
    assert "plugins" in help_text


def test_current_app_outside_a_chassis_command_line_is_an_error() -> None:
    cli = typer.Typer()

    @cli.command()
    def lonely(ctx: typer.Context) -> None:
        current_app(ctx)

    result = runner.invoke(cli, [])

    assert isinstance(result.exception, RuntimeError)
    assert "build_cli" in str(result.exception)


@pytest.mark.usefixtures("project")
@pytest.mark.parametrize("spec", ["shop_app:app", "shop_app:make_app"])
def test_app_finds_the_application_or_its_factory_and_its_plugins_commands(
    spec: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as listed:
        main(["--app", spec, "plugins"])
    table = _table(capsys.readouterr().out)
    with pytest.raises(SystemExit) as greeted:
        main([f"--app={spec}", "hello"])

    assert listed.value.code == 0
    assert table["shop"] == ("explicit", "chassis_cli")
    assert greeted.value.code == 0
    assert capsys.readouterr().out == "hello from the shop\n"


@pytest.mark.usefixtures("project")
def test_the_app_can_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHASSIS_APP", "shop_app:app")

    with pytest.raises(SystemExit) as greeted:
        main(["hello"])

    assert greeted.value.code == 0
    assert capsys.readouterr().out == "hello from the shop\n"


BAD_APPS = [
    ("nothing_here:app", "cannot find module 'nothing_here'"),
    ("shop_app", "--app must look like module:attribute, got 'shop_app'"),
    ("shop_app:", "--app must look like module:attribute, got 'shop_app:'"),
    ("shop_app:missing", "'shop_app' has no attribute 'missing'"),
    ("shop_app:plain", "shop_app:plain is a FastAPI application not made by create_app()"),
    ("shop_app:number", "shop_app:number is a int, not an application made by create_app()"),
    (
        "shop_app:broken_factory",
        "calling shop_app:broken_factory failed: RuntimeError: no settings for this environment",
    ),
    (
        "needs_stripe:app",
        (
            "importing 'needs_stripe' failed: ModuleNotFoundError: "
            "No module named 'stripe_sdk_not_installed'"
        ),
    ),
]


@pytest.mark.usefixtures("project")
@pytest.mark.parametrize(("spec", "message"), BAD_APPS)
def test_a_bad_app_is_one_clear_line_and_a_usage_error(
    spec: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--app", spec, "plugins"])

    captured = capsys.readouterr()
    assert exited.value.code == 2
    assert captured.err == f"chassis: error: {message}\n"
    assert captured.out == ""


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "import payments_sdk_not_installed\n",
            (
                "plugin 'faulty' failed while loading: ModuleNotFoundError: "
                "No module named 'payments_sdk_not_installed'"
            ),
        ),
        (
            (
                "from fastapi_chassis import hookimpl\n\n"
                "@hookimpl\ndef chassis_cli(cli):\n    raise KeyError('reports')\n"
            ),
            "plugin 'faulty' failed in hook chassis_cli: KeyError: 'reports'",
        ),
    ],
)
def test_a_failing_installed_plugin_is_one_line_naming_it(
    install: Install,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    source: str,
    message: str,
) -> None:
    install("faulty-dist", {"faulty": "faulty_plugin"}, {"faulty_plugin": source})
    for name in list(os.environ):
        if name.startswith("CHASSIS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CHASSIS_LOG_CONFIGURE", "false")

    with pytest.raises(SystemExit) as exited:
        main(["plugins"])

    assert exited.value.code == 1
    assert capsys.readouterr().err == f"chassis: error: {message}\n"


@pytest.mark.usefixtures("project")
def test_load_application_raises_rather_than_exiting() -> None:
    with pytest.raises(ApplicationLoadError, match="no attribute"):
        load_application("shop_app:missing")

    assert load_application("shop_app:app").title == "shop"


def _chassis(
    *arguments: str, cwd: Path, pythonpath: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CHASSIS_")}
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "fastapi_chassis.cli", *arguments],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_command_runs_as_a_program_and_finds_entry_point_plugins(
    project: Path, install: Install, site_packages: Path
) -> None:
    install("tenants-dist", {"tenants": "tenants_plugin"}, {"tenants_plugin": TENANTS})

    installed = _chassis("plugins", cwd=project, pythonpath=site_packages)
    with_app = _chassis("--app", "shop_app:app", "plugins", cwd=project)
    bad = _chassis("--app", "shop_app:missing", "plugins", cwd=project)

    assert installed.returncode == 0, installed.stderr
    assert _table(installed.stdout)["tenants"] == ("entry point", "chassis_configure_app")
    assert with_app.returncode == 0, with_app.stderr
    assert _table(with_app.stdout)["shop"] == ("explicit", "chassis_cli")
    assert (bad.returncode, bad.stdout) == (2, "")
    assert bad.stderr == "chassis: error: 'shop_app' has no attribute 'missing'\n"


def test_the_chassis_console_script_is_declared() -> None:
    (script,) = entry_points(group="console_scripts", name="chassis")

    assert script.value == "fastapi_chassis.cli:main"
    assert script.load() is main
