"""The plugin manager: validation at registration, call order, error attribution, tracing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Generator

import pytest
from fastapi import FastAPI

from fastapi_chassis import ChassisSettings, hookimpl
from fastapi_chassis.plugins import ChassisPluginManager, MiddlewareSpec, PluginError
from fastapi_chassis.plugins.manager import flatten
from tests.api.conftest import running
from tests.plugins.conftest import build


def _metadata_plugin(value: str, *, tryfirst: bool = False, trylast: bool = False) -> object:
    class Plugin:
        @hookimpl(tryfirst=tryfirst, trylast=trylast)
        def chassis_metadata(self) -> str:
            return value

    return Plugin()


def test_hooks_run_in_registration_order_and_tryfirst_trylast_keep_it_among_themselves() -> None:
    manager = ChassisPluginManager()
    for name, first, last in [
        ("a", False, False),
        ("first-1", True, False),
        ("last-1", False, True),
        ("b", False, False),
        ("first-2", True, False),
        ("last-2", False, True),
        ("c", False, False),
    ]:
        manager.register(_metadata_plugin(name, tryfirst=first, trylast=last), name)

    assert manager.call("chassis_metadata") == [
        "first-1",
        "first-2",
        "a",
        "b",
        "c",
        "last-1",
        "last-2",
    ]


def test_results_skip_none_and_flatten_merges_sequences() -> None:
    class Nothing:
        @hookimpl
        def chassis_metadata(self) -> None:
            return None

    manager = ChassisPluginManager()
    manager.register(_metadata_plugin("one"), "one")
    manager.register(Nothing(), "nothing")
    manager.register(_metadata_plugin("two"), "two")

    assert manager.call("chassis_metadata") == ["one", "two"]
    assert flatten([[1, 2], 3, (4,)]) == [1, 2, 3, 4]


def test_an_argument_the_hook_does_not_have_is_refused_naming_plugin_and_hook() -> None:
    class Typo:
        name = "typo"

        @hookimpl
        def chassis_middleware(self, setting: ChassisSettings) -> None:  # noqa: ARG002
            return None

    with pytest.raises(PluginError) as caught:
        build([Typo()])

    assert caught.value.plugin == "typo"
    assert caught.value.hook == "chassis_middleware"
    assert "'typo'" in str(caught.value)
    assert "chassis_middleware" in str(caught.value)
    assert "setting" in str(caught.value)


def test_a_misspelt_hook_is_refused_unless_marked_optional() -> None:
    class Misspelt:
        name = "misspelt"

        @hookimpl
        def chassis_statrup(self) -> None:
            return None

    class Optional:
        name = "optional"

        @hookimpl(optionalhook=True)
        def chassis_from_a_later_version(self) -> None:
            return None

    with pytest.raises(
        PluginError, match=r"'misspelt'.*chassis_statrup: LookupError: no hook has this name"
    ) as caught:
        build([Misspelt()])
    assert caught.value.hook == "chassis_statrup"

    app = build([Optional()])
    assert app.state.chassis.plugins.is_registered("optional")


def test_hook_wrappers_are_refused_because_implementations_are_called_one_by_one() -> None:
    class Wrapper:
        name = "wrapper"

        @hookimpl(wrapper=True)
        def chassis_metadata(self) -> Generator[None, object, object]:
            return (yield)

    manager = ChassisPluginManager()
    with pytest.raises(PluginError, match="wrappers are not supported") as caught:
        manager.register(Wrapper())

    assert caught.value.hook == "chassis_metadata"
    # Nothing of the refused plugin stays behind to be called later.
    assert not manager.is_registered("wrapper")
    assert manager.call("chassis_metadata") == []


def test_two_plugins_cannot_share_a_name() -> None:
    manager = ChassisPluginManager()
    manager.register(_metadata_plugin("one"), "same")

    with pytest.raises(PluginError, match=r"'same'.*a plugin with this name is registered"):
        manager.register(_metadata_plugin("two"), "same")


def test_a_blocked_name_registers_nothing_and_is_not_listed() -> None:
    manager = ChassisPluginManager()
    manager.register(_metadata_plugin("kept"), "kept")
    manager.block("blocked")

    assert manager.register(_metadata_plugin("dropped"), "blocked") is None
    assert manager.call("chassis_metadata") == ["kept"]
    assert [info.name for info in manager.plugins()] == ["kept"]


def test_plugins_describes_name_source_and_hooks_in_registration_order() -> None:
    class Both:
        @hookimpl
        def chassis_startup(self) -> None:
            return None

        @hookimpl
        def chassis_metadata(self) -> None:
            return None

    manager = ChassisPluginManager()
    manager.register(Both(), "both", source="builtin")
    manager.register(_metadata_plugin("x"), "x")

    assert [(info.name, info.source, info.hooks) for info in manager.plugins()] == [
        ("both", "builtin", ("chassis_metadata", "chassis_startup")),
        ("x", "explicit", ("chassis_metadata",)),
    ]


def test_a_plugin_is_named_after_its_name_attribute_module_or_class() -> None:
    class Named:
        name = "shop.named"

    class Anonymous:
        pass

    manager = ChassisPluginManager()

    assert manager.register(Named()) == "shop.named"
    assert manager.register(Anonymous()) == f"{__name__}.{Anonymous.__qualname__}"
    assert manager.register(logging) == "logging"


def test_raising_in_a_build_time_hook_fails_create_app_naming_plugin_and_hook() -> None:
    class Broken:
        name = "broken"

        @hookimpl
        def chassis_middleware(self) -> list[MiddlewareSpec]:
            raise LookupError("no such tenant table")

    with pytest.raises(PluginError) as caught:
        build([Broken()])

    assert caught.value.plugin == "broken"
    assert caught.value.hook == "chassis_middleware"
    assert str(caught.value) == (
        "plugin 'broken' failed in hook chassis_middleware: LookupError: no such tenant table"
    )
    assert isinstance(caught.value.__cause__, LookupError)


def test_async_def_in_a_synchronous_hook_is_refused_without_leaking_the_coroutine() -> None:
    class Eager:
        name = "eager"

        @hookimpl
        async def chassis_middleware(self) -> list[MiddlewareSpec]:
            return []

    # filterwarnings=error would turn "coroutine was never awaited" into a failure.
    with pytest.raises(PluginError, match=r"'eager'.*chassis_middleware.*synchronous"):
        build([Eager()])


class _Recorder:
    """Startup and shutdown hooks that record their calls in a shared list."""

    def __init__(self, name: str, calls: list[str], *, delay: float = 0.0) -> None:
        self.name = name
        self.calls = calls
        self.delay = delay
        self.fail_on_shutdown = False

    @hookimpl
    async def chassis_startup(self) -> None:
        await asyncio.sleep(self.delay)
        self.calls.append(f"start {self.name}")

    @hookimpl
    async def chassis_shutdown(self) -> None:
        self.calls.append(f"stop {self.name}")
        if self.fail_on_shutdown:
            raise OSError(f"{self.name} could not close")


@pytest.mark.asyncio
async def test_async_startup_hooks_are_awaited_one_after_another_in_plugin_order() -> None:
    calls: list[str] = []

    class Sync:
        name = "sync"

        @hookimpl
        def chassis_startup(self, app: FastAPI) -> None:
            assert isinstance(app, FastAPI)
            calls.append("start sync")

    # The slow first plugin would finish last if the hooks ran concurrently.
    plugins = [_Recorder("slow", calls, delay=0.05), Sync(), _Recorder("fast", calls)]
    async with running(build(plugins)):
        assert calls == ["start slow", "start sync", "start fast"]


@pytest.mark.asyncio
async def test_shutdown_runs_in_reverse_and_every_hook_runs_when_one_fails() -> None:
    calls: list[str] = []
    plugins = [_Recorder(name, calls) for name in ("one", "two", "three")]
    plugins[1].fail_on_shutdown = True

    with pytest.raises(ExceptionGroup) as caught:
        async with running(build(plugins)):
            calls.clear()

    assert calls == ["stop three", "stop two", "stop one"]
    (failure,) = caught.value.exceptions
    assert isinstance(failure, PluginError)
    assert (failure.plugin, failure.hook) == ("two", "chassis_shutdown")
    assert "OSError: two could not close" in str(failure)


@pytest.mark.asyncio
async def test_a_failing_startup_hook_stops_start_up_naming_it_and_undoes_earlier_ones() -> None:
    calls: list[str] = []

    class Failing:
        name = "failing"

        @hookimpl
        async def chassis_startup(self) -> None:
            await asyncio.sleep(0)
            raise ConnectionRefusedError("redis:6379")

    app = build([_Recorder("before", calls), Failing(), _Recorder("after", calls)])
    with pytest.raises(PluginError) as caught:
        async with running(app):
            pytest.fail("the application must not start")

    assert (caught.value.plugin, caught.value.hook) == ("failing", "chassis_startup")
    assert "ConnectionRefusedError: redis:6379" in str(caught.value)
    # What started is shut down; the failing plugin and those after it never started.
    assert calls == ["start before", "stop before"]


def _traced(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    """The (hook, plugin) pairs of the trace lines, in order."""
    return [
        (str(record.args[0]), str(record.args[1]))
        for record in caplog.records
        if record.name == "fastapi_chassis.plugins"
        and record.msg.startswith("hook ")
        and isinstance(record.args, tuple)
    ]


@pytest.mark.asyncio
async def test_trace_logs_every_hook_call_with_plugin_and_duration(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="fastapi_chassis.plugins")
    calls: list[str] = []

    class Adjusting:
        name = "adjusting"

        @hookimpl
        def chassis_adjust_settings(self) -> None:
            return None

        @hookimpl
        def chassis_routers(self) -> None:
            return None

    app = build(
        [Adjusting(), _Recorder("recorder", calls)], plugins_trace=True, api_versions=["1", "2"]
    )
    async with running(app) as client:
        await client.get("/")

    manager: ChassisPluginManager = app.state.chassis.plugins
    expected = {
        (hook, impl.plugin_name)
        for hook in (
            "chassis_adjust_settings",
            "chassis_middleware",
            "chassis_routers",
            "chassis_configure_app",
            "chassis_startup",
            "chassis_shutdown",
        )
        for impl in manager.implementations(hook)
    }
    assert {("chassis_startup", "recorder"), ("chassis_routers", "adjusting")} <= expected
    traced = _traced(caplog)
    assert expected <= set(traced)
    # Per-request hooks are traced too, once per request and implementation.
    finished = {pair for pair in traced if pair[0] == "chassis_request_finished"}
    assert finished == {
        ("chassis_request_finished", impl.plugin_name)
        for impl in manager.implementations("chassis_request_finished")
    }
    assert finished
    # Once per API version for each implementation.
    routers = [pair for pair in traced if pair[0] == "chassis_routers"]
    assert len(routers) == 2 * len(manager.implementations("chassis_routers"))
    durations = [record.getMessage() for record in caplog.records if "in " in record.getMessage()]
    assert durations
    assert all(message.endswith(" ms") for message in durations)


@pytest.mark.asyncio
async def test_without_trace_no_hook_call_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="fastapi_chassis.plugins")

    async with running(build([_Recorder("recorder", [])])):
        pass

    assert _traced(caplog) == []


@pytest.mark.asyncio
async def test_a_failing_request_finished_hook_is_logged_with_its_plugin(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken:
        name = "broken-monitor"

        @hookimpl
        def chassis_request_finished(self) -> None:
            raise RuntimeError("monitor down")

    async with running(build([Broken()])) as client:
        response = await client.get("/health/live")

    assert response.status_code == 200
    failures = [record for record in caplog.records if record.name == "fastapi_chassis.requests"]
    assert len(failures) == 1
    assert "broken-monitor" in failures[0].getMessage()
    assert failures[0].exc_info is not None
