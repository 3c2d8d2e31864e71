"""Loading plugins and calling their hooks, one implementation at a time.

pluggy calls every implementation of a hook in one go and, when one raises, the
caller cannot tell which. The chassis calls implementations one by one instead,
which buys three things: errors name the plugin and the hook; async
implementations are awaited in turn (pluggy has no async hooks); and with
``plugins_trace`` on, every call is logged with its duration.

Order is the order plugins were registered in (built-ins, entry points by name,
then ``create_app(plugins=...)``), with ``tryfirst``/``trylast`` implementations
moved to the front/back (in plugin order among themselves): later plugins can
build on, or override, earlier ones.
"""

from __future__ import annotations

import inspect
import logging
import re
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

import pluggy

from fastapi_chassis.errors import ChassisError
from fastapi_chassis.plugins import hookspecs
from fastapi_chassis.plugins.markers import PROJECT

if TYPE_CHECKING:
    from pluggy import HookImpl

__all__ = ["ChassisPluginManager", "PluginError", "PluginInfo"]

logger = logging.getLogger("fastapi_chassis.plugins")


class PluginError(ChassisError):
    """A plugin failed to load or raised in one of its hooks.

    Attributes:
        plugin: The plugin's name.
        hook: The hook that failed (``None`` when loading failed).
    """

    def __init__(self, plugin: str, hook: str | None, error: BaseException) -> None:
        where = f"in hook {hook}" if hook else "while loading"
        super().__init__(f"plugin {plugin!r} failed {where}: {type(error).__name__}: {error}")
        self.plugin = plugin
        self.hook = hook


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """A loaded plugin, as ``chassis plugins`` lists it.

    Attributes:
        name: The name it was registered under.
        source: ``builtin``, ``entry point`` or ``explicit``.
        hooks: The hooks it implements, sorted.
    """

    name: str
    source: str
    hooks: tuple[str, ...]


class ChassisPluginManager:
    """A pluggy manager for the ``fastapi_chassis`` project with ordered, attributed calls.

    Args:
        trace: Log every hook call (at DEBUG level, logger ``fastapi_chassis.plugins``).
    """

    def __init__(self, *, trace: bool = False) -> None:
        self._pm = pluggy.PluginManager(PROJECT)
        self._pm.add_hookspecs(hookspecs.ChassisHookspecs)
        self._sources: dict[str, str] = {}
        self._trace = trace

    @property
    def trace(self) -> bool:
        """Whether every hook call is logged (the ``plugins_trace`` setting)."""
        return self._trace

    def register(
        self, plugin: object, name: str | None = None, *, source: str = "explicit"
    ) -> str | None:
        """Register a plugin and return the name it got.

        Args:
            plugin: A module or object with ``@hookimpl`` functions.
            name: The name to register it under; by default its ``name`` attribute,
                a module's name, or its class's qualified name.
            source: How it was found, as :meth:`plugins` reports it.

        Returns:
            The plugin's name, or ``None`` when that name is blocked
            (``disabled_plugins``) and the plugin was not registered.

        Raises:
            PluginError: If the name is taken, or the plugin's hook implementations do
                not match the specifications (unknown hook, unknown argument, hook
                wrappers, which the chassis does not call).
        """
        plugin_name = name or _default_name(plugin)
        if self._pm.is_blocked(plugin_name):
            logger.debug("plugin %s is disabled", plugin_name)
            return None
        if self._pm.has_plugin(plugin_name):
            raise PluginError(
                plugin_name, None, ValueError("a plugin with this name is registered")
            )
        try:
            self._pm.register(plugin, name=plugin_name)
        except (pluggy.PluginValidationError, ValueError) as error:
            self._forget(plugin_name)
            raise PluginError(plugin_name, _hook_named_in(error), error) from error
        refused = _refused_implementation(self._pm, plugin)
        if refused is not None:
            self._forget(plugin_name)
            raise PluginError(plugin_name, *refused)
        self._sources[plugin_name] = source
        return plugin_name

    def _forget(self, name: str) -> None:
        # pluggy keeps what it registered before a validation error.
        plugin = self._pm.get_plugin(name)
        if plugin is not None:
            self._pm.unregister(plugin, name)

    def load_entry_points(self, allowlist: Iterable[str] | None = None) -> list[str]:
        """Load plugins from the ``fastapi_chassis`` entry-point group.

        Args:
            allowlist: Names of the entry points that may load; ``None`` loads all.

        Returns:
            The names of the plugins loaded.

        Raises:
            PluginError: If an entry point cannot be imported or registered.
        """
        allowed = None if allowlist is None else set(allowlist)
        loaded: list[str] = []
        for point in sorted(entry_points(group=PROJECT), key=lambda point: point.name):
            if allowed is not None and point.name not in allowed:
                logger.debug("entry-point plugin %s is not in the allow-list", point.name)
                continue
            if self._pm.has_plugin(point.name) or self._pm.is_blocked(point.name):
                continue
            try:
                plugin = point.load()
            except Exception as error:
                raise PluginError(point.name, None, error) from error
            if self.register(plugin, point.name, source="entry point") is not None:
                loaded.append(point.name)
        return loaded

    def block(self, name: str) -> None:
        """Keep a plugin from loading, or unregister it if it already has."""
        self._pm.set_blocked(name)

    def is_registered(self, name: str) -> bool:
        """Return whether a plugin of this name is registered."""
        return self._pm.has_plugin(name)

    def get_plugin(self, name: str) -> object | None:
        """Return the plugin registered under ``name``, if any."""
        plugin: object | None = self._pm.get_plugin(name)
        return plugin

    def plugins(self) -> list[PluginInfo]:
        """Describe every registered plugin, in registration order."""
        infos = []
        for name, plugin in self._pm.list_name_plugin():
            if plugin is None:
                continue  # a blocked name, not a plugin
            hooks = tuple(sorted(caller.name for caller in self._pm.get_hookcallers(plugin) or ()))
            infos.append(PluginInfo(name, self._sources.get(name, "explicit"), hooks))
        return infos

    def implementations(self, hook: str) -> list[HookImpl]:
        """Return the implementations of ``hook`` in call order."""
        caller = getattr(self._pm.hook, hook)
        impls: list[HookImpl] = caller.get_hookimpls()
        first = [impl for impl in impls if impl.tryfirst]
        last = [impl for impl in impls if impl.trylast]
        middle = [impl for impl in impls if not impl.tryfirst and not impl.trylast]
        # pluggy inserts each trylast implementation at the front of its list, so
        # that group is in reverse registration order; the others are in order.
        return [*first, *middle, *reversed(last)]

    def has_implementations(self, hook: str) -> bool:
        """Return whether any plugin implements ``hook``."""
        return bool(getattr(self._pm.hook, hook).get_hookimpls())

    def call(self, hook: str, **kwargs: object) -> list[object]:
        """Call every implementation of a synchronous hook; return the non-``None`` results.

        Raises:
            PluginError: From the first implementation that raises, or returns an
                awaitable from a hook that is not awaited.
        """
        results = []
        for impl in self.implementations(hook):
            result = self.invoke(impl, hook, kwargs)
            if inspect.isawaitable(result):
                _close(result)
                raise PluginError(
                    impl.plugin_name,
                    hook,
                    TypeError("this hook is synchronous: do not use async def"),
                )
            if result is not None:
                results.append(result)
        return results

    async def acall(
        self,
        hook: str,
        *,
        reverse: bool = False,
        keep_going: bool = False,
        skip: Collection[str] = (),
        completed: list[str] | None = None,
        **kwargs: object,
    ) -> list[object]:
        """Call every implementation of a hook, awaiting async ones in turn.

        Args:
            hook: The hook's name.
            reverse: Call in reverse plugin order (shutdown hooks).
            keep_going: Run every implementation even when some fail, then raise an
                :class:`ExceptionGroup` of their :class:`PluginError` s.
            skip: Names of plugins whose implementation is not called.
            completed: A list that receives the name of each plugin whose
                implementation finished without error, as it finishes.
            **kwargs: The hook's arguments.

        Raises:
            PluginError: From the first implementation that fails (unless ``keep_going``).
        """
        impls = [impl for impl in self.implementations(hook) if impl.plugin_name not in skip]
        if reverse:
            impls.reverse()
        results: list[object] = []
        failures: list[PluginError] = []
        for impl in impls:
            try:
                result = self.invoke(impl, hook, kwargs)
                if inspect.isawaitable(result):
                    started = time.perf_counter()
                    try:
                        result = await result
                    except Exception as error:
                        raise PluginError(impl.plugin_name, hook, error) from error
                    self._log_await(impl, hook, started)
            except PluginError as error:
                if not keep_going:
                    raise
                failures.append(error)
                continue
            if completed is not None:
                completed.append(impl.plugin_name)
            if result is not None:
                results.append(result)
        if failures:
            raise ExceptionGroup(f"{len(failures)} plugin(s) failed in hook {hook}", failures)
        return results

    def invoke(self, impl: HookImpl, hook: str, kwargs: Mapping[str, object]) -> object:
        """Call one implementation with the arguments it accepts; attribute its errors.

        Raises:
            PluginError: If the implementation raises.
        """
        arguments = [kwargs[name] for name in impl.argnames]
        started = time.perf_counter() if self._trace else 0.0
        try:
            result = impl.function(*arguments)
        except Exception as error:
            raise PluginError(impl.plugin_name, hook, error) from error
        if self._trace:
            logger.debug(
                "hook %s: plugin %s returned %s in %.3f ms",
                hook,
                impl.plugin_name,
                type(result).__name__,
                (time.perf_counter() - started) * 1000,
            )
        return result

    def _log_await(self, impl: HookImpl, hook: str, started: float) -> None:
        if self._trace:
            logger.debug(
                "hook %s: plugin %s finished awaiting in %.3f ms",
                hook,
                impl.plugin_name,
                (time.perf_counter() - started) * 1000,
            )


def _refused_implementation(
    pm: pluggy.PluginManager, plugin: object
) -> tuple[str, Exception] | None:
    """The first implementation of ``plugin`` the chassis cannot call, and why."""
    for caller in pm.get_hookcallers(plugin) or ():
        for impl in caller.get_hookimpls():
            if impl.plugin is not plugin:
                continue
            if not caller.has_spec() and not impl.optionalhook:
                # pluggy accepts unknown names (for specs added later); a
                # misspelt hook would then silently never run.
                return caller.name, LookupError("no hook has this name")
            if impl.hookwrapper or impl.wrapper:
                return caller.name, TypeError(
                    "hook wrappers are not supported: the chassis calls each "
                    "implementation on its own"
                )
    return None


def _hook_named_in(error: Exception) -> str | None:
    # pluggy names the hook only in its message: "Plugin 'x' for hook 'y' ...".
    match = re.search(r"for hook '(\w+)'", str(error))
    return match.group(1) if match else None


def _default_name(plugin: object) -> str:
    if inspect.ismodule(plugin):
        return plugin.__name__
    name = getattr(plugin, "name", None)
    if isinstance(name, str) and name:
        return name
    kind = plugin if isinstance(plugin, type) else type(plugin)
    return f"{kind.__module__}.{kind.__qualname__}"


def _close(awaitable: object) -> None:
    close = getattr(awaitable, "close", None)
    if callable(close):
        close()


def flatten(results: Iterable[object]) -> Sequence[object]:
    """Flatten hook results where each plugin returned one item or a sequence of items."""
    items: list[object] = []
    for result in results:
        if isinstance(result, list | tuple):
            items.extend(result)
        else:
            items.append(result)
    return items
