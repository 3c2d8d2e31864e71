"""Plugins from installed distributions: discovery, order, allow-list, disabling, failures."""

from __future__ import annotations

import pytest

from fastapi_chassis import hookimpl
from fastapi_chassis.app import BUILTIN_PLUGINS
from fastapi_chassis.plugins import ChassisPluginManager, PluginError
from tests.api.conftest import running
from tests.plugins.conftest import Install, build

# A plugin module as an application would ship it: a route and an order probe.
SHOP = """
from fastapi import APIRouter
from fastapi_chassis import hookimpl

router = APIRouter()

@router.get("/shop/ping")
async def ping() -> dict[str, str]:
    return {"plugin": "shop"}

@hookimpl
def chassis_routers(version):
    return [router]

@hookimpl
def chassis_configure_app(app):
    app.state.__dict__.setdefault("calls", []).append("shop")
"""

# A plugin object (not a module), as the entry point "module:attribute" names it.
AUDIT = """
from fastapi_chassis import hookimpl

class Audit:
    @hookimpl
    def chassis_configure_app(self, app):
        app.state.__dict__.setdefault("calls", []).append("audit")

plugin = Audit()
"""


def _probe(name: str) -> str:
    return f"""
from fastapi_chassis import hookimpl

@hookimpl
def chassis_configure_app(app):
    app.state.__dict__.setdefault("calls", []).append({name!r})
"""


def _entry_point_names(manager: ChassisPluginManager) -> list[str]:
    return [info.name for info in manager.plugins() if info.source == "entry point"]


@pytest.mark.asyncio
async def test_plugins_load_from_the_fastapi_chassis_entry_point_group(install: Install) -> None:
    install(
        "shop-plugins",
        {"shop": "shop_plugin", "audit": "audit_plugin:plugin"},
        {"shop_plugin": SHOP, "audit_plugin": AUDIT},
    )

    app = build()
    async with running(app) as client:
        response = await client.get("/shop/ping")

    assert response.json() == {"plugin": "shop"}
    listed = {info.name: info for info in app.state.chassis.plugins.plugins()}
    assert listed["shop"].source == "entry point"
    assert listed["shop"].hooks == ("chassis_configure_app", "chassis_routers")
    assert listed["audit"].source == "entry point"


def test_order_is_builtins_then_entry_points_by_name_then_explicit(install: Install) -> None:
    # Declared out of order, and in two distributions: the name decides.
    install(
        "zeta-dist",
        {"zeta": "zeta_probe", "beta": "beta_probe"},
        {"zeta_probe": _probe("zeta"), "beta_probe": _probe("beta")},
    )
    install("alpha-dist", {"alpha": "alpha_probe"}, {"alpha_probe": _probe("alpha")})

    class Explicit:
        name = "explicit"

        @hookimpl
        def chassis_configure_app(self, app: object) -> None:
            app.state.calls.append("explicit")  # type: ignore[attr-defined]

    app = build([Explicit()])
    manager: ChassisPluginManager = app.state.chassis.plugins

    assert app.state.calls == ["alpha", "beta", "zeta", "explicit"]
    registered = [info.name for info in manager.plugins()]
    builtins = [name for name, _ in BUILTIN_PLUGINS]
    assert registered[: len(builtins)] == builtins
    assert registered[len(builtins) :] == ["alpha", "beta", "zeta", "explicit"]


@pytest.mark.parametrize(
    ("allowlist", "loaded"),
    [(None, ["alpha", "beta"]), ([], []), (["beta"], ["beta"]), (["beta", "gone"], ["beta"])],
)
def test_the_allowlist_decides_which_entry_points_load(
    install: Install, allowlist: list[str] | None, loaded: list[str]
) -> None:
    install(
        "probes",
        {"alpha": "alpha_probe", "beta": "beta_probe"},
        {"alpha_probe": _probe("alpha"), "beta_probe": _probe("beta")},
    )

    app = build(plugins_allowlist=allowlist)

    # Other installed distributions may add entry points; only these two are ours.
    assert [n for n in _entry_point_names(app.state.chassis.plugins) if n in {"alpha", "beta"}] == (
        loaded
    )
    assert getattr(app.state, "calls", []) == loaded


def test_a_plugin_outside_the_allowlist_is_never_imported(install: Install) -> None:
    install(
        "mixed",
        {"good": "good_probe", "broken": "broken_plugin"},
        {"good_probe": _probe("good"), "broken_plugin": "raise SystemError('imported')\n"},
    )

    app = build(plugins_allowlist=["good"])

    assert app.state.calls == ["good"]


@pytest.mark.asyncio
async def test_disabled_plugins_blocks_builtins_and_entry_points_by_name(install: Install) -> None:
    install(
        "probes",
        {"alpha": "alpha_probe", "beta": "beta_probe"},
        {"alpha_probe": _probe("alpha"), "beta_probe": _probe("beta")},
    )

    app = build(disabled_plugins=["alpha", "chassis.correlation"])
    async with running(app) as client:
        without = await client.get("/")
    async with running(build()) as client:
        with_correlation = await client.get("/")

    names = [info.name for info in app.state.chassis.plugins.plugins()]
    assert "alpha" not in names
    assert "chassis.correlation" not in names
    assert app.state.calls == ["beta"]
    # The built-in's behaviour is gone with it, not only its name.
    assert "x-correlation-id" not in without.headers
    assert "x-correlation-id" in with_correlation.headers


def test_an_entry_point_that_cannot_be_imported_fails_naming_the_plugin(install: Install) -> None:
    install(
        "broken",
        {"broken": "broken_plugin"},
        {"broken_plugin": "import a_dependency_that_is_not_installed\n"},
    )

    with pytest.raises(PluginError) as caught:
        build()

    assert caught.value.plugin == "broken"
    assert caught.value.hook is None
    assert str(caught.value) == (
        "plugin 'broken' failed while loading: ModuleNotFoundError: "
        "No module named 'a_dependency_that_is_not_installed'"
    )


def test_an_entry_point_naming_a_missing_attribute_fails_naming_the_plugin(
    install: Install,
) -> None:
    install("typo", {"typo": "typo_plugin:plugn"}, {"typo_plugin": "plugin = object()\n"})

    with pytest.raises(PluginError, match=r"plugin 'typo' failed while loading: AttributeError"):
        build()


def test_an_entry_point_with_a_bad_hook_signature_fails_naming_plugin_and_hook(
    install: Install,
) -> None:
    source = """
from fastapi_chassis import hookimpl

@hookimpl
def chassis_routers(version, settings, request):
    return []
"""
    install("bad-signature", {"bad": "bad_plugin"}, {"bad_plugin": source})

    with pytest.raises(PluginError) as caught:
        build()

    assert (caught.value.plugin, caught.value.hook) == ("bad", "chassis_routers")
    assert "request" in str(caught.value)


@pytest.mark.asyncio
async def test_an_entry_point_raising_at_startup_fails_start_up_naming_it(
    install: Install,
) -> None:
    source = """
from fastapi_chassis import hookimpl

@hookimpl
async def chassis_startup(app):
    raise RuntimeError("cache warm-up failed")
"""
    install("failing", {"warmup": "warmup_plugin"}, {"warmup_plugin": source})

    with pytest.raises(PluginError) as caught:
        async with running(build()):
            pytest.fail("the application must not start")

    assert (caught.value.plugin, caught.value.hook) == ("warmup", "chassis_startup")
    assert str(caught.value) == (
        "plugin 'warmup' failed in hook chassis_startup: RuntimeError: cache warm-up failed"
    )
