"""Amounts of money: whole cents in the database, decimal strings on the wire.

The shop sells in one currency. Amounts are stored as integer cents, which add
up exactly; version 2 of the API shows them as decimal strings (``"12.50"``),
never as floats, so no client rounds them.
"""

from decimal import Decimal
from typing import Final

CURRENCY: Final = "EUR"
"""The shop's currency (ISO 4217); every price and total is in it."""

_CENT = Decimal("0.01")


def format_cents(cents: int) -> str:
    """Return ``cents`` as a decimal amount with two places: ``1250`` gives ``"12.50"``."""
    return str((Decimal(cents) * _CENT).quantize(_CENT))


def cents_from_amount(amount: Decimal) -> int:
    """Return a decimal amount in cents: ``Decimal("12.5")`` gives ``1250``.

    Raises:
        ValueError: If the amount has fractions of a cent.
    """
    cents = amount / _CENT
    if cents != cents.to_integral_value():
        raise ValueError(f"{amount} has fractions of a cent")
    return int(cents)
