"""Finding the application a ``chassis`` command works on."""

from __future__ import annotations

from importlib import import_module

import typer
from fastapi import FastAPI

from fastapi_chassis.app import chassis_state
from fastapi_chassis.errors import ChassisError

__all__ = ["ApplicationLoadError", "current_app", "load_application"]


class ApplicationLoadError(ChassisError):
    """``--app`` names nothing usable, or the application failed to build."""


def load_application(spec: str) -> FastAPI:
    """Import the application that ``spec`` names.

    Args:
        spec: ``module:attribute``, where the attribute (dotted for nested
            objects) is an application made by ``create_app`` or a function that
            takes no arguments and returns one.

    Returns:
        The application.

    Raises:
        ApplicationLoadError: With a one-line message saying what is wrong.

    Example:
        >>> app = load_application("shop.main:create_shop_app")
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ApplicationLoadError(f"--app must look like module:attribute, got {spec!r}")
    try:
        module = import_module(module_name)
    except Exception as error:
        # A missing module is a typo in --app; a missing dependency of the
        # module (or any other error) is the module's problem, so say which.
        if isinstance(error, ImportError) and _is_package_of(error.name, module_name):
            raise ApplicationLoadError(f"cannot find module {module_name!r}") from error
        raise ApplicationLoadError(
            f"importing {module_name!r} failed: {_one_line(error)}"
        ) from error
    target: object = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError as error:
            raise ApplicationLoadError(f"{module_name!r} has no attribute {attribute!r}") from error
    if not isinstance(target, FastAPI) and callable(target):
        try:
            target = target()
        except Exception as error:
            raise ApplicationLoadError(f"calling {spec} failed: {_one_line(error)}") from error
    if not isinstance(target, FastAPI):
        raise ApplicationLoadError(
            f"{spec} is a {type(target).__name__}, not an application made by create_app()"
        )
    try:
        chassis_state(target)
    except ChassisError as error:
        message = f"{spec} is a FastAPI application not made by create_app()"
        raise ApplicationLoadError(message) from error
    return target


def current_app(ctx: typer.Context) -> FastAPI:
    """Return the application the running ``chassis`` command works on.

    Args:
        ctx: The command's context (declare a ``ctx: typer.Context`` parameter).

    Raises:
        RuntimeError: Outside a command line made by :func:`~fastapi_chassis.cli.build_cli`.
    """
    app = ctx.find_root().obj
    if isinstance(app, FastAPI):
        return app
    raise RuntimeError("current_app() needs a command line made by build_cli()")


def _is_package_of(name: str | None, module_name: str) -> bool:
    return name is not None and (module_name == name or module_name.startswith(f"{name}."))


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
