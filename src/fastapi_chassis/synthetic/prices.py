"""Retail prices: log-normally distributed, with charm endings.

Shop prices are skewed: many cheap items, a long tail of expensive ones, which a
log-normal distribution describes well. They are also not arbitrary numbers:
shops end them in .99 or .95 below 100, in 9.99 up to 1,000 and in 49 or 99 above
(charm pricing). Both are done here, vectorised with numpy, for the bulk
generator and, one price at a time, for the Faker provider.
"""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import numpy.typing as npt

__all__ = ["cents_to_decimal", "charm_cents", "lognormal_price_cents"]

_CENTS = np.int64
# Price bands in cents: below 10.00, below 100.00, below 1,000.00, above.
_SINGLE_DIGITS = 1_000
_DOUBLE_DIGITS = 10_000
_TRIPLE_DIGITS = 100_000


def charm_cents(raw_cents: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Snap raw prices (in cents) to charm prices.

    Below 10.00 the price becomes ``n.99``; below 100.00, ``n.99`` or ``n.95``
    (one in five); below 1,000.00, the nearest ``n9.99``; above, the nearest
    ``n49.00`` or ``n99.00``. The lowest price is 0.99.

    Args:
        raw_cents: Prices in cents, as floats.

    Returns:
        The charm prices in cents.
    """
    raw = np.maximum(raw_cents, 99.0)
    units = np.floor(raw / 100.0)
    small = units * 100 + 99
    # The fractional part decides between .99 and .95, so the choice is a pure
    # function of the raw price and needs no random source of its own.
    ninety_five = (raw - units * 100) < 20  # noqa: PLR2004 - one price in five
    medium = np.where(ninety_five, units * 100 + 95, units * 100 + 99)
    tens = np.maximum(np.round(raw / 1000.0), 1) * 1000 - 1
    fifties = np.maximum(np.round(raw / 5000.0), 1) * 5000 - 100
    snapped = np.where(
        raw < _SINGLE_DIGITS,
        small,
        np.where(raw < _DOUBLE_DIGITS, medium, np.where(raw < _TRIPLE_DIGITS, tens, fifties)),
    )
    return snapped.astype(_CENTS)


def lognormal_price_cents(
    rng: np.random.Generator, size: int, *, median: float, sigma: float
) -> npt.NDArray[np.int64]:
    """Draw ``size`` charm prices (cents) from a log-normal distribution.

    Args:
        rng: The random source.
        size: How many prices.
        median: The median price in currency units (before charm rounding).
        sigma: The spread: the standard deviation of the price's logarithm
            (0.9 puts the middle 80 % of prices between about a third and three
            times the median).

    Returns:
        Prices in cents.
    """
    raw = rng.lognormal(mean=math.log(median * 100.0), sigma=sigma, size=size)
    return charm_cents(raw)


def cents_to_decimal(cents: int) -> Decimal:
    """Return an amount in cents as a :class:`~decimal.Decimal` with two places.

    Example:
        >>> cents_to_decimal(2499)
        Decimal('24.99')
    """
    return Decimal(cents).scaleb(-2)
