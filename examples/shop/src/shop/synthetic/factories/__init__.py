"""factory_boy factories of the shop's models, saving through an ``AsyncSession``.

In tests: ``await ProductFactory.create_async(session, stock_on_hand=10)``. In bulk
loads the chassis evaluates the same declarations without factory_boy's
per-object cost, taking the values marked ``Planned`` from the scenario.
"""

from shop.synthetic.factories.customers import CustomerFactory
from shop.synthetic.factories.orders import OrderFactory, OrderItemFactory
from shop.synthetic.factories.products import ProductFactory

__all__ = ["CustomerFactory", "OrderFactory", "OrderItemFactory", "ProductFactory"]
