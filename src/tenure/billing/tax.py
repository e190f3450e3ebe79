"""Tax on an invoice line, exactly, by the market's rule. Pure.

Tax-inclusive markets (VAT): the price is gross; tax = round_half_up(gross * rate / (1 + rate)).
Tax-exclusive markets (US sales tax): the price is net; tax = round_half_up(net * rate).
Each line is rounded on its own, half-up, to the currency's minor unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import cache

from tenure.kernel.money import percent_text


@dataclass(frozen=True, slots=True)
class TaxedAmount:
    net: int
    tax: int
    total: int


def apply_tax(amount: int, *, rate: Fraction, inclusive: bool) -> TaxedAmount:
    # Exact, in integers: rate = p/q, so gross * rate / (1 + rate) = gross * p / (q + p).
    p, q = rate.numerator, rate.denominator
    if inclusive:
        tax = _divide_half_up(amount * p, q + p)
        return TaxedAmount(net=amount - tax, tax=tax, total=amount)
    tax = _divide_half_up(amount * p, q)
    return TaxedAmount(net=amount, tax=tax, total=amount + tax)


def _divide_half_up(numerator: int, denominator: int) -> int:
    """``round_half_up(Fraction(numerator, denominator))`` without building the Fraction (the
    renewal batch taxes every line; ``Fraction.__new__`` showed in its profile)."""
    if denominator < 0:
        numerator, denominator = -numerator, -denominator
    sign = -1 if numerator < 0 else 1
    whole, remainder = divmod(abs(numerator), denominator)
    if 2 * remainder >= denominator:
        whole += 1
    return sign * whole


@cache
def rate_percent_text(rate: Fraction) -> str:
    """``Fraction(1, 4)`` -> ``"25"``; ``Fraction(29, 400)`` -> ``"7.25"`` (exact)."""
    return percent_text(rate)
