"""Tax on an invoice line, exactly, by the market's rule. Pure.

Tax-inclusive markets (VAT): the price is gross; tax = round_half_up(gross * rate / (1 + rate)).
Tax-exclusive markets (US sales tax): the price is net; tax = round_half_up(net * rate).
Each line is rounded on its own, half-up, to the currency's minor unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from tenure.kernel.money import percent_text, round_half_up


@dataclass(frozen=True, slots=True)
class TaxedAmount:
    net: int
    tax: int
    total: int


def apply_tax(amount: int, *, rate: Fraction, inclusive: bool) -> TaxedAmount:
    if inclusive:
        tax = round_half_up(Fraction(amount) * rate / (1 + rate))
        return TaxedAmount(net=amount - tax, tax=tax, total=amount)
    tax = round_half_up(Fraction(amount) * rate)
    return TaxedAmount(net=amount, tax=tax, total=amount + tax)


def rate_percent_text(rate: Fraction) -> str:
    """``Fraction(1, 4)`` -> ``"25"``; ``Fraction(29, 400)`` -> ``"7.25"`` (exact)."""
    return percent_text(rate)
