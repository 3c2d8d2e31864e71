"""The root ``chassis`` command: loads the application, then parses the command line."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from importlib import import_module
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from fastapi import FastAPI

from fastapi_chassis.app import chassis_state, create_app
from fastapi_chassis.cli.application import ApplicationLoadError, load_application
from fastapi_chassis.errors import ChassisError

__all__ = ["APP_ENVIRONMENT_VARIABLE", "BUILTIN_COMMANDS", "build_cli", "main"]

BUILTIN_COMMANDS: tuple[str, ...] = ("fastapi_chassis.cli.plugins",)
"""Modules whose ``register(cli)`` adds the chassis's own commands, in order."""

APP_ENVIRONMENT_VARIABLE = "CHASSIS_APP"
"""Names the application when ``--app`` is not given."""

_USAGE_ERROR = 2


def build_cli(app: FastAPI) -> typer.Typer:
    """Build the ``chassis`` command line for an application.

    Adds the built-in commands (:data:`BUILTIN_COMMANDS`), then calls every
    plugin's ``chassis_cli`` hook with the root :class:`typer.Typer`.

    Args:
        app: The application the commands work on (see
            :func:`~fastapi_chassis.cli.current_app`).

    Returns:
        The root command; call it to run it, or pass it to typer's ``CliRunner``.

    Raises:
        PluginError: If a plugin fails in ``chassis_cli``.
    """
    cli = typer.Typer(
        name="chassis",
        help="Work with a fastapi-chassis application.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )

    @cli.callback()
    def chassis(
        ctx: typer.Context,
        app_spec: Annotated[
            str | None,
            typer.Option(
                "--app",
                envvar=APP_ENVIRONMENT_VARIABLE,
                metavar="MODULE:ATTRIBUTE",
                help="The application (made by create_app) or a function returning it; "
                "by default create_app() with the installed plugins.",
            ),
        ] = None,
    ) -> None:
        # main() loaded the application from --app before parsing (its plugins
        # may add commands); here the option is only declared and documented.
        del app_spec
        ctx.obj = app

    for module in BUILTIN_COMMANDS:
        import_module(module).register(cli)
    chassis_state(app).plugins.call("chassis_cli", cli=cli)
    return cli


def main(args: Sequence[str] | None = None) -> None:
    """Run the ``chassis`` command (the console script's entry point).

    Args:
        args: The arguments; ``sys.argv[1:]`` when omitted.
    """
    arguments = list(sys.argv[1:] if args is None else args)
    spec = _app_option(arguments) or os.environ.get(APP_ENVIRONMENT_VARIABLE) or None
    # As uvicorn does: the application usually lives in the current directory.
    working_directory = str(Path.cwd())
    if working_directory not in sys.path:
        sys.path.insert(0, working_directory)
    try:
        app = load_application(spec) if spec is not None else create_app()
        cli = build_cli(app)
    except ApplicationLoadError as error:
        _fail(str(error), _USAGE_ERROR)
    except ChassisError as error:
        _fail(str(error), 1)
    cli(args=arguments, prog_name="chassis")


def _app_option(arguments: Sequence[str]) -> str | None:
    # Root options come before the command name; stop at the first other word.
    for index, argument in enumerate(arguments):
        if argument == "--app":
            return arguments[index + 1] if index + 1 < len(arguments) else None
        if argument.startswith("--app="):
            return argument.removeprefix("--app=")
        if argument == "--" or not argument.startswith("-"):
            return None
    return None


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(f"chassis: error: {' '.join(message.split())}", err=True)
    raise SystemExit(code)
