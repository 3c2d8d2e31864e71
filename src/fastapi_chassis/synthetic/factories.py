"""``AsyncSQLAlchemyFactory``: factory_boy factories that persist through an ``AsyncSession``.

factory_boy builds objects synchronously and its SQLAlchemy factory saves them
through a synchronous session, which an async application does not have. Here,
``await Factory.create_async(session, ...)`` runs factory_boy's whole ``create``
strategy (declarations, ``SubFactory``, ``RelatedFactory``, traits,
post-generation hooks) as it always does, while collecting every object the
factories make instead of saving it; then it adds them all to the session and
flushes once. SQLAlchemy's unit of work inserts parents before children, so the
order of the declarations does not matter, and a batch is one round of INSERTs
instead of one per object.

Post-generation hooks run before the flush: they see the values set in Python,
including primary keys, which :class:`~fastapi_chassis.db.UUIDv7PrimaryKeyMixin`
assigns when the object is constructed; server-set columns are there after
``create_async`` returns.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, TypeVar

from factory.base import Factory
from factory.faker import Faker
from typing_extensions import override

from fastapi_chassis.synthetic.errors import FactoryUsageError
from fastapi_chassis.synthetic.providers import CommerceProvider

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["AsyncSQLAlchemyFactory"]

ModelT = TypeVar("ModelT")

_created: ContextVar[list[object] | None] = ContextVar("chassis_factory_created", default=None)


# factory.Faker("product_name") and the other commerce formatters work in every
# factory once this module is imported.
Faker.add_provider(CommerceProvider)  # type: ignore[no-untyped-call]


class AsyncSQLAlchemyFactory(Factory[ModelT]):
    """A factory_boy factory whose ``create`` strategy goes through an ``AsyncSession``.

    Subclass it as any factory, naming the model in ``Meta.model``; ``build()``
    works as usual, and ``create_async`` / ``create_batch_async`` replace
    ``create`` / ``create_batch``. The same factories drive the
    :class:`~fastapi_chassis.synthetic.BulkLoader`.

    Example:
        ```python
        class CustomerFactory(AsyncSQLAlchemyFactory[Customer]):
            class Meta:
                model = Customer

            email = factory.Sequence(lambda n: f"customer{n}@example.com")
            name = factory.Faker("name")


        class OrderFactory(AsyncSQLAlchemyFactory[Order]):
            class Meta:
                model = Order

            customer = factory.SubFactory(CustomerFactory)
            items = factory.RelatedFactoryList(OrderItemFactory, "order", size=3)


        order = await OrderFactory.create_async(session)
        orders = await OrderFactory.create_batch_async(session, 10, customer=order.customer)
        ```
    """

    class Meta:
        """Abstract: subclasses name their model."""

        abstract = True

    @classmethod
    @override
    def _create(cls, model_class: type[ModelT], *args: object, **kwargs: object) -> ModelT:
        created = _created.get()
        if created is None:
            raise FactoryUsageError(
                f"{cls.__name__}.create() cannot save through an AsyncSession: use "
                f"await {cls.__name__}.create_async(session, ...) (or build() for an "
                "unsaved object)"
            )
        instance = model_class(*args, **kwargs)
        created.append(instance)
        return instance

    @classmethod
    async def create_async(cls, session: AsyncSession, /, **kwargs: object) -> ModelT:
        """Create an object (and the objects its declarations make) and flush them.

        Args:
            session: The session to add the objects to; it is flushed, not committed.
            **kwargs: Values or declarations that override the factory's, as for
                factory_boy's ``create``.

        Returns:
            The object, with server-set columns loaded.
        """
        instances = await cls.create_batch_async(session, 1, **kwargs)
        return instances[0]

    @classmethod
    async def create_batch_async(
        cls, session: AsyncSession, size: int, /, **kwargs: object
    ) -> list[ModelT]:
        """Create ``size`` objects and flush them together.

        Args:
            session: The session to add the objects to; it is flushed, not committed.
            size: How many objects.
            **kwargs: Overrides applied to every object.

        Returns:
            The objects, in creation order.
        """
        token = _created.set([])
        try:
            instances = [cls.create(**kwargs) for _ in range(size)]
            created = _created.get() or []
        finally:
            _created.reset(token)
        session.add_all(created)
        await session.flush()
        return instances
