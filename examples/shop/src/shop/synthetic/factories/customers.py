"""Customers, in the locales a scenario asks for."""

# factory_boy's declarations have no annotations; mypy --strict would flag every call.
# mypy: disable-error-code="no-untyped-call"

import re
import unicodedata

from factory.declarations import LazyAttributeSequence
from factory.faker import Faker
from fastapi_chassis.synthetic import AsyncSQLAlchemyFactory, Planned

from shop.models import Customer


def email_for(customer: object, n: int) -> str:
    """Return a unique, lower-case ASCII email built from the customer's name.

    Names come in the customer's locale (``Jürgen``, ``Zoë``); mail systems and the
    shop's own lower-case check want plain ASCII, so accents are folded away.
    """
    name = f"{getattr(customer, 'first_name', '')}.{getattr(customer, 'last_name', '')}"
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    local = re.sub(r"[^a-z0-9.]+", "", ascii_name.lower()).strip(".") or "customer"
    return f"{local}.{n}@example.com"


class CustomerFactory(AsyncSQLAlchemyFactory[Customer]):
    """A customer with a name, an address and an email unique by construction."""

    class Meta:
        model = Customer

    first_name = Faker("first_name")
    last_name = Faker("last_name")
    email = LazyAttributeSequence(email_for)
    country_code = Planned("country_code", default="US")
    address = Faker("shipping_address")
