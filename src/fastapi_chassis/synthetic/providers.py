"""Faker providers for commerce data: product names, categories, SKUs, prices, addresses.

Register :class:`CommerceProvider` with Faker (or with factory_boy, which keeps its
own Faker instances) to use its methods in ``factory.Faker`` declarations::

    factory.Faker.add_provider(CommerceProvider)

    class ProductFactory(AsyncSQLAlchemyFactory[Product]):
        name = factory.Faker("product_name")
        price = factory.Faker("price", median=30)

Importing :mod:`fastapi_chassis.synthetic` registers it for factory_boy's default
locale. SKUs that must be unique come from :func:`sku_for`, a bijection from a
sequence number to a SKU, rather than from a random draw.
"""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
from faker.providers import BaseProvider

from fastapi_chassis.synthetic.prices import cents_to_decimal, charm_cents

__all__ = ["CATEGORIES", "CommerceProvider", "sku_for"]

CATEGORIES: tuple[str, ...] = (
    "Books",
    "Electronics",
    "Home & Kitchen",
    "Garden",
    "Toys & Games",
    "Sports & Outdoors",
    "Beauty",
    "Health",
    "Fashion",
    "Shoes",
    "Jewellery",
    "Grocery",
    "Pet Supplies",
    "Office",
    "Automotive",
    "Music",
)
"""The product categories :meth:`CommerceProvider.product_category` draws from."""

_ADJECTIVES = (
    "Classic", "Compact", "Deluxe", "Durable", "Elegant", "Ergonomic", "Essential", "Everyday",
    "Handmade", "Heavy-Duty", "Lightweight", "Modern", "Organic", "Portable", "Premium",
    "Recycled", "Rustic", "Sleek", "Smart", "Soft", "Sturdy", "Vintage", "Waterproof", "Wireless",
)  # fmt: skip
_MATERIALS = (
    "Aluminium", "Bamboo", "Canvas", "Ceramic", "Copper", "Cotton", "Glass", "Granite",
    "Leather", "Linen", "Marble", "Oak", "Plastic", "Rubber", "Silk", "Steel", "Walnut", "Wool",
)  # fmt: skip
_PRODUCTS = (
    "Backpack", "Bottle", "Bowl", "Candle", "Chair", "Clock", "Desk Lamp", "Headphones",
    "Jacket", "Kettle", "Keyboard", "Knife Set", "Mug", "Notebook", "Pan", "Pillow", "Planter",
    "Scarf", "Shelf", "Sneakers", "Speaker", "Sunglasses", "Table", "Teapot", "Tote Bag",
    "Towel", "Wallet", "Watch", "Yoga Mat",
)  # fmt: skip

# pragma: allowlist nextline secret
_SKU_ALPHABET = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I or O: they read as 1 and 0
_SKU_DIGITS = 7
_SKU_SPACE = len(_SKU_ALPHABET) ** _SKU_DIGITS
# An odd multiplier coprime with the space makes n -> n * M mod space a bijection
# that scatters consecutive numbers; 34**7 = 2**7 * 17**7, so M avoids 2 and 17.
_SKU_MULTIPLIER = 24_036_583
_SKU_OFFSET = 7_340_033


def sku_for(number: int, prefix: str = "SKU") -> str:
    """Return the SKU for a sequence number: distinct numbers give distinct SKUs.

    The number is scrambled (a bijection on 34**7, about 52 billion values) so that
    consecutive products get unrelated-looking codes.

    Args:
        number: A non-negative sequence number below 34**7.
        prefix: Letters before the dash.

    Returns:
        ``PREFIX-XXXX-XXX`` in upper-case letters and digits.

    Raises:
        ValueError: If ``number`` is out of range.

    Example:
        >>> sku_for(0), sku_for(1)
        ('SKU-BHRG-500', 'SKU-NDAG-P00')
    """
    if not 0 <= number < _SKU_SPACE:
        raise ValueError(f"SKU sequence numbers run from 0 to {_SKU_SPACE - 1}, not {number}")
    value = (number * _SKU_MULTIPLIER + _SKU_OFFSET) % _SKU_SPACE
    characters = []
    for _ in range(_SKU_DIGITS):
        value, digit = divmod(value, len(_SKU_ALPHABET))
        characters.append(_SKU_ALPHABET[digit])
    code = "".join(characters)
    return f"{prefix}-{code[:4]}-{code[4:]}"


class CommerceProvider(BaseProvider):
    """Faker methods for e-commerce data.

    Every method draws from the Faker instance's own random source, so a seeded
    Faker (``Faker.seed_instance``) gives repeatable values.
    """

    def product_name(self) -> str:
        """Return a product name: adjective, material and product (``"Sleek Oak Desk Lamp"``)."""
        return (
            f"{self.random_element(_ADJECTIVES)} {self.random_element(_MATERIALS)} "
            f"{self.random_element(_PRODUCTS)}"
        )

    def product_category(self) -> str:
        """Return one of :data:`CATEGORIES`."""
        return str(self.random_element(CATEGORIES))

    def sku(self, prefix: str = "SKU") -> str:
        """Return a random SKU in the format of :func:`sku_for` (not guaranteed unique)."""
        return sku_for(self.generator.random.randrange(_SKU_SPACE), prefix)

    def price(self, median: float = 24.0, sigma: float = 0.9) -> Decimal:
        """Return a retail price: log-normal around ``median``, with a charm ending.

        Args:
            median: The median price in currency units.
            sigma: The standard deviation of the price's logarithm.

        Returns:
            The price with two decimal places, like ``Decimal("24.99")``.
        """
        raw = self.generator.random.lognormvariate(math.log(median * 100.0), sigma)
        return cents_to_decimal(int(charm_cents(np.array([raw]))[0]))

    def shipping_address(self) -> str:
        """Return a postal address in the generator's locale, with the country on the last line.

        The address follows the locale's conventions (street, postcode and city
        order) because it comes from the locale's own address provider.
        """
        country: str = self.generator.current_country()
        address: str = self.generator.address()
        return f"{address}\n{country}"
