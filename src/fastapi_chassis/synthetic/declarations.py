"""factory_boy declarations that connect a factory to scenarios and existing rows.

* :class:`Planned` takes a column's value from the scenario when the bulk loader
  generates rows (an order's total, a line's quantity), and a default otherwise.
* :class:`FromPool` draws a foreign key from a :class:`~fastapi_chassis.synthetic.RowPool`.

Both work in every factory_boy strategy (``build``, ``create_async``) and in bulk
loading.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from factory.declarations import BaseDeclaration
from typing_extensions import override

if TYPE_CHECKING:
    from fastapi_chassis.synthetic.pools import RowPool

__all__ = ["FromPool", "Planned"]


class Planned(BaseDeclaration):
    """A value the scenario decides, with a default for plain factory use.

    In bulk loading, the column gets the scenario's fact of that name for each
    row (see the facts of each role in the guide: ``total``, ``quantity``,
    ``unit_price``, ``status``, ``cohort``...). Elsewhere, the default is used:
    a value, a function of no arguments, or another declaration.

    Args:
        fact: The name of the scenario fact.
        default: The value outside bulk loading.

    Example:
        >>> class OrderItemFactory(AsyncSQLAlchemyFactory[OrderItem]):
        ...     quantity = Planned("quantity", default=1)
        ...     unit_price = Planned("unit_price", default=factory.Faker("price"))
    """

    def __init__(self, fact: str, default: object = None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.fact = fact
        self.default = default

    @override
    def evaluate(self, instance: object, step: object, extra: object) -> object:
        """Return the default (factory_boy calls this outside bulk loading)."""
        default = self.default
        if isinstance(default, BaseDeclaration):
            return default.evaluate_pre(instance, step, {})  # type: ignore[no-untyped-call]
        if callable(default):
            return default()
        return default

    @override
    def __repr__(self) -> str:
        return f"Planned({self.fact!r}, default={self.default!r})"


class FromPool(BaseDeclaration):
    """A foreign key drawn from a pool of existing rows.

    Outside bulk loading, each object gets a key picked uniformly (with
    factory_boy's random source) from the pool. In bulk loading, a foreign key
    to a table the scenario fills is chosen by the scenario instead; a key to
    another table is drawn from the pool, which is loaded from the database
    first when it is empty.

    Args:
        pool: The pool to draw from.

    Example:
        >>> customers = RowPool(Customer)
        >>> class OrderFactory(AsyncSQLAlchemyFactory[Order]):
        ...     customer_id = FromPool(customers)
    """

    def __init__(self, pool: RowPool) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.pool = pool

    @override
    def evaluate(self, instance: object, step: object, extra: object) -> object:
        """Return a key from the pool (factory_boy calls this outside bulk loading)."""
        return self.pool.pick()

    @override
    def __repr__(self) -> str:
        return f"FromPool({self.pool!r})"
