"""Commerce data for Faker and the price model; no database."""

from __future__ import annotations

import math
import statistics
from decimal import Decimal

import numpy as np
import pytest
from faker import Faker

from fastapi_chassis.synthetic import (
    CATEGORIES,
    CommerceProvider,
    cents_to_decimal,
    charm_cents,
    lognormal_price_cents,
    sku_for,
)


@pytest.fixture
def fake() -> Faker:
    generator = Faker("en_US")
    generator.add_provider(CommerceProvider)
    generator.seed_instance(7)
    return generator


def test_sku_for_never_repeats_and_looks_scrambled() -> None:
    skus = [sku_for(number) for number in range(50_000)]
    assert len(set(skus)) == len(skus)
    assert all(len(sku) == len("SKU-XXXX-XXX") and sku.startswith("SKU-") for sku in skus)
    assert sku_for(0)[4:8] != sku_for(1)[4:8]
    assert sku_for(5, prefix="ELC").startswith("ELC-")


def test_sku_for_refuses_numbers_it_cannot_encode() -> None:
    with pytest.raises(ValueError, match="SKU sequence numbers"):
        sku_for(-1)
    with pytest.raises(ValueError, match="SKU sequence numbers"):
        sku_for(34**7)


def test_charm_prices_end_the_way_shops_end_them() -> None:
    raw = np.array([150.0, 2_449.0, 2_010.0, 24_560.0, 123_456.0, 10.0])
    assert charm_cents(raw).tolist() == [199, 2_499, 2_095, 24_999, 124_900, 99]


def test_prices_are_log_normal_around_the_median() -> None:
    cents = lognormal_price_cents(np.random.default_rng(1), 20_000, median=30, sigma=0.8)
    assert statistics.median(cents.tolist()) == pytest.approx(3_000, rel=0.1)
    logs = np.log(cents)
    assert float(np.std(logs)) == pytest.approx(0.8, rel=0.1)
    endings = {value % 100 for value in cents.tolist() if value < 10_000}
    assert endings <= {95, 99}


def test_the_provider_speaks_commerce(fake: Faker) -> None:
    name = fake.product_name()
    assert len(name.split()) >= 3
    assert fake.product_category() in CATEGORIES
    price = fake.price(median=50)
    assert isinstance(price, Decimal)
    assert price.as_tuple().exponent == -2
    assert price == cents_to_decimal(int(price * 100))
    assert fake.sku().startswith("SKU-")


@pytest.mark.parametrize(
    ("locale", "country"),
    [("en_US", "United States"), ("de_DE", "Germany"), ("fr_FR", "France")],
)
def test_shipping_addresses_follow_the_locale(locale: str, country: str) -> None:
    generator = Faker(locale)
    generator.add_provider(CommerceProvider)
    generator.seed_instance(3)
    address = generator.shipping_address()
    assert address.splitlines()[-1] == country
    assert len(address.splitlines()) >= 3


def test_a_seeded_faker_repeats_itself(fake: Faker) -> None:
    first = [fake.product_name() for _ in range(5)] + [str(fake.price())]
    fake.seed_instance(7)
    assert [fake.product_name() for _ in range(5)] + [str(fake.price())] == first


def test_cents_to_decimal_keeps_two_places() -> None:
    assert str(cents_to_decimal(100)) == "1.00"
    assert str(cents_to_decimal(2499)) == "24.99"
    assert math.isclose(float(cents_to_decimal(5)), 0.05)
