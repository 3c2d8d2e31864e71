"""Things the ``chassis_app`` ini option may name, for the loader's tests."""

from __future__ import annotations

from fastapi import FastAPI

from fastapi_chassis import create_app

calls: list[int] = []


def make() -> FastAPI:
    """A factory: the loader calls it once per process."""
    calls.append(1)
    return create_app()


plain = FastAPI()
not_an_app = 42
