"""Factory fixtures: each application factory becomes a fixture bound to ``db_session``.

Factories come from two places:

* the ``chassis_factories`` hook of the application's plugins (role name to
  factory class), when the ``chassis_app`` ini option names the application;
* the ``chassis_factories`` ini option: lines of ``package.module`` (every
  :class:`~fastapi_chassis.synthetic.AsyncSQLAlchemyFactory` subclass defined in
  it) or ``package.module:ProductFactory``.

Each becomes a fixture named after the class in snake case: ``ProductFactory``
is ``product_factory``, ``OrderItemFactory`` is ``order_item_factory``. Its
value is a :class:`BoundFactory`, which creates through the test's
``db_session``::

    product = await product_factory.create(name="Mug")
    products = await product_factory.create_batch(3)

The fixtures are registered only when a test asks for a ``*_factory`` fixture
that nothing else defines, so a run that uses none imports neither the
application nor factory_boy. A fixture of the same name in a ``conftest.py``
takes precedence, as pytest's rules say.
"""

from __future__ import annotations

import re
import types
from collections.abc import Iterable, Mapping
from importlib import import_module
from typing import TYPE_CHECKING, Generic, TypeVar

import pytest
from typing_extensions import override

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from fastapi_chassis.synthetic import AsyncSQLAlchemyFactory

__all__ = [
    "BoundFactory",
    "collect_factories",
    "factory_fixture_name",
    "register_factory_fixtures",
]

ModelT = TypeVar("ModelT")

INI_FACTORIES = "chassis_factories"
_PLUGIN_NAME = "fastapi_chassis.factory_fixtures"


class BoundFactory(Generic[ModelT]):
    """A factory bound to a session: what a factory fixture gives a test.

    Args:
        factory: The :class:`~fastapi_chassis.synthetic.AsyncSQLAlchemyFactory` subclass.
        session: The session objects are added to and flushed in (``db_session``).

    Attributes:
        factory: The factory class.
        session: The session.
    """

    def __init__(
        self, factory: type[AsyncSQLAlchemyFactory[ModelT]], session: AsyncSession
    ) -> None:
        self.factory = factory
        self.session = session

    @override
    def __repr__(self) -> str:
        return f"BoundFactory({self.factory.__name__})"

    async def create(self, **kwargs: object) -> ModelT:
        """Create one object (and what its declarations make), flushed, not committed.

        Args:
            **kwargs: Values or declarations overriding the factory's.

        Returns:
            The object, with its server-set columns loaded.
        """
        return await self.factory.create_async(self.session, **kwargs)

    async def create_batch(self, size: int, **kwargs: object) -> list[ModelT]:
        """Create ``size`` objects, flushed together.

        Args:
            size: How many.
            **kwargs: Overrides applied to every object.

        Returns:
            The objects, in creation order.
        """
        return await self.factory.create_batch_async(self.session, size, **kwargs)

    def build(self, **kwargs: object) -> ModelT:
        """Build one object without adding it to the session.

        Args:
            **kwargs: Overrides.
        """
        built: ModelT = self.factory.build(**kwargs)
        return built

    def build_batch(self, size: int, **kwargs: object) -> list[ModelT]:
        """Build ``size`` objects without adding them to the session.

        Args:
            size: How many.
            **kwargs: Overrides applied to every object.
        """
        built: list[ModelT] = self.factory.build_batch(size, **kwargs)
        return built


def factory_fixture_name(factory: type) -> str:
    """Return a factory's fixture name: ``OrderItemFactory`` gives ``order_item_factory``.

    Args:
        factory: The factory class.
    """
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", factory.__name__)
    words = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", words).lower()
    return words if words.endswith("_factory") else f"{words}_factory"


def _is_factory(candidate: object) -> bool:
    from fastapi_chassis.synthetic import AsyncSQLAlchemyFactory  # noqa: PLC0415

    return (
        isinstance(candidate, type)
        and issubclass(candidate, AsyncSQLAlchemyFactory)
        and candidate is not AsyncSQLAlchemyFactory
        and not candidate._meta.abstract  # noqa: SLF001 - factory_boy's options live in _meta
    )


def _from_spec(spec: str) -> list[type]:
    module_name, _, attribute = spec.partition(":")
    try:
        module = import_module(module_name)
    except ImportError as error:
        raise pytest.UsageError(
            f"{INI_FACTORIES}: cannot import {module_name!r}: {error}"
        ) from error
    if attribute:
        candidate = getattr(module, attribute, None)
        if not _is_factory(candidate):
            raise pytest.UsageError(
                f"{INI_FACTORIES}: {spec!r} is not an AsyncSQLAlchemyFactory subclass"
            )
        return [candidate]  # type: ignore[list-item]
    return [
        value
        for value in vars(module).values()
        if _is_factory(value) and value.__module__ == module.__name__
    ]


def collect_factories(specs: Iterable[str], hook_results: Iterable[object] = ()) -> dict[str, type]:
    """Gather the factories, by fixture name, from ini specs and ``chassis_factories`` results.

    Args:
        specs: Lines of the ``chassis_factories`` ini option.
        hook_results: What the plugins' ``chassis_factories`` hooks returned
            (mappings of role name to factory class).

    Returns:
        Fixture name to factory class.

    Raises:
        pytest.UsageError: If a spec names nothing usable, or two different
            factories would get the same fixture name.
    """
    found: list[type] = []
    for spec in specs:
        if spec.strip():
            found.extend(_from_spec(spec.strip()))
    for result in hook_results:
        if isinstance(result, Mapping):
            found.extend(value for value in result.values() if _is_factory(value))
    factories: dict[str, type] = {}
    for factory in found:
        name = factory_fixture_name(factory)
        other = factories.setdefault(name, factory)
        if other is not factory:
            raise pytest.UsageError(
                f"two factories would be the fixture {name!r}: "
                f"{other.__module__}.{other.__qualname__} and "
                f"{factory.__module__}.{factory.__qualname__}; rename one"
            )
    return factories


def _fixture_for(factory: type) -> object:
    def bound(db_session: AsyncSession) -> BoundFactory[object]:
        return BoundFactory(factory, db_session)

    bound.__doc__ = f"{factory.__qualname__}, creating through db_session."
    return pytest.fixture(name=factory_fixture_name(factory))(bound)


def register_factory_fixtures(config: pytest.Config) -> dict[str, type]:
    """Register a fixture per factory the project configures (once per run).

    Args:
        config: The pytest configuration (ini options ``chassis_factories`` and
            ``chassis_app``).

    Returns:
        Fixture name to factory class, as registered.
    """
    if config.pluginmanager.has_plugin(_PLUGIN_NAME):
        return {}
    specs = [str(line) for line in config.getini(INI_FACTORIES) or []]
    hook_results: list[object] = []
    app_spec = str(config.getini("chassis_app") or "")
    if app_spec:
        from fastapi_chassis.app import chassis_state  # noqa: PLC0415
        from fastapi_chassis.testing.application import load_app  # noqa: PLC0415

        state = chassis_state(load_app(app_spec))
        hook_results = state.plugins.call("chassis_factories")
    factories = collect_factories(specs, hook_results)
    holder = types.ModuleType(_PLUGIN_NAME)
    for name, factory in factories.items():
        setattr(holder, name, _fixture_for(factory))
    config.pluginmanager.register(holder, _PLUGIN_NAME)
    return factories
