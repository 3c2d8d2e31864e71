from __future__ import annotations

import gc

import pytest
from fastapi import FastAPI

from fastapi_chassis import ChassisSettings, create_app, gc_freeze


def _holders() -> int:
    return gc_freeze._holders


def test_the_first_freeze_freezes_and_the_last_thaw_thaws() -> None:
    before = _holders()
    gc_freeze.freeze_startup_objects()
    gc_freeze.freeze_startup_objects()
    try:
        assert gc.get_freeze_count() > 0
        gc_freeze.thaw()
        assert gc.get_freeze_count() > 0  # one holder is left
    finally:
        gc_freeze.thaw()
    assert _holders() == before
    if before == 0:
        assert gc.get_freeze_count() == 0


def _app(**settings: object) -> FastAPI:
    return create_app(ChassisSettings.model_validate({"log_configure": False, **settings}))


@pytest.mark.asyncio
async def test_a_running_application_keeps_its_start_up_objects_frozen() -> None:
    before = _holders()
    app = _app()
    async with app.router.lifespan_context(app):
        assert _holders() == before + 1
        assert gc.get_freeze_count() > 0
    assert _holders() == before


@pytest.mark.asyncio
async def test_the_setting_turns_it_off() -> None:
    before = _holders()
    app = _app(gc_freeze=False)
    async with app.router.lifespan_context(app):
        assert _holders() == before
    assert _holders() == before
