"""Products with prices and stock."""

# factory_boy's declarations have no annotations; mypy --strict would flag every call.
# mypy: disable-error-code="no-untyped-call"

from factory.declarations import LazyAttribute, Sequence
from factory.faker import Faker
from factory.fuzzy import FuzzyInteger
from fastapi_chassis.synthetic import AsyncSQLAlchemyFactory, Planned, sku_for

from shop.models import Product


def stock_for(product: object) -> int:
    """Return a stock level that follows demand: best sellers are stocked deepest.

    Scenario products carry their popularity rank (1 sells most); factory-made
    ones default to a middling rank.
    """
    rank = int(getattr(product, "popularity_rank", 50))
    return max(25, 5_000 // rank)


class ProductFactory(AsyncSQLAlchemyFactory[Product]):
    """A product with a unique SKU, a realistic price and stock on hand."""

    class Meta:
        model = Product

    class Params:
        # A scenario fact used by stock_for; not a column.
        popularity_rank = Planned("popularity_rank", default=50)

    sku = Sequence(sku_for)
    name = Faker("product_name")
    category = Planned("category", default=Faker("product_category"))
    price_cents = Planned("price_cents", default=FuzzyInteger(199, 9_999))
    stock_on_hand = LazyAttribute(stock_for)
