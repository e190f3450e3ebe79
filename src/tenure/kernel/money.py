"""Money as integer minor units of an ISO 4217 currency.

No float ever enters a money path: amounts are ``int`` minor units, ratios are ``Fraction``,
and every fraction becomes minor units through :func:`round_half_up`.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Final

# ISO 4217 minor-unit exponents. Only currencies listed here are accepted anywhere in Tenure,
# so an unknown code fails at catalog load instead of producing a wrong amount later.
MINOR_UNITS: Final[dict[str, int]] = {
    "AED": 2,
    "ARS": 2,
    "AUD": 2,
    "BHD": 3,
    "BRL": 2,
    "CAD": 2,
    "CHF": 2,
    "CLP": 0,
    "CNY": 2,
    "COP": 2,
    "CZK": 2,
    "DKK": 2,
    "EGP": 2,
    "EUR": 2,
    "GBP": 2,
    "HKD": 2,
    "HUF": 2,
    "IDR": 2,
    "ILS": 2,
    "INR": 2,
    "ISK": 0,
    "JOD": 3,
    "JPY": 0,
    "KRW": 0,
    "KWD": 3,
    "MXN": 2,
    "MYR": 2,
    "NGN": 2,
    "NOK": 2,
    "NZD": 2,
    "OMR": 3,
    "PHP": 2,
    "PLN": 2,
    "QAR": 2,
    "RON": 2,
    "SAR": 2,
    "SEK": 2,
    "SGD": 2,
    "THB": 2,
    "TND": 3,
    "TRY": 2,
    "TWD": 2,
    "UAH": 2,
    "USD": 2,
    "VND": 0,
    "ZAR": 2,
}


class UnknownCurrency(ValueError):
    def __init__(self, code: str) -> None:
        super().__init__(f"unknown ISO 4217 currency code {code!r}")
        self.code = code


def minor_units(currency: str) -> int:
    """The number of decimals of ``currency`` (JPY 0, EUR 2, KWD 3)."""
    try:
        return MINOR_UNITS[currency]
    except KeyError:
        raise UnknownCurrency(currency) from None


def round_half_up(value: Fraction | int) -> int:
    """Round an exact rational to the nearest integer, halves away from zero.

    Billing rounds half-up (HMRC and most tax authorities); banker's rounding would make a
    customer's invoice depend on the parity of a digit they never see.
    """
    if isinstance(value, int):
        return value
    sign = -1 if value < 0 else 1
    magnitude = abs(value)
    whole, remainder = divmod(magnitude.numerator, magnitude.denominator)
    if 2 * remainder >= magnitude.denominator:
        whole += 1
    return sign * whole


def parse_decimal(text: str) -> Fraction:
    """Parse a decimal string such as ``"12.5"`` exactly; never through float."""
    return Fraction(text.strip())


def to_minor(major: str, currency: str) -> int:
    """``"129.00"`` SEK -> ``12900``. Refuses more decimals than the currency has."""
    exponent = minor_units(currency)
    exact = parse_decimal(major) * 10**exponent
    if exact.denominator != 1:
        raise ValueError(f"{major} has more decimals than {currency} allows ({exponent})")
    return int(exact)


def format_minor(amount: int, currency: str) -> str:
    """``12900`` SEK -> ``"129.00"``; ``1500`` JPY -> ``"1500"``; ``3500`` KWD -> ``"3.500"``."""
    exponent = minor_units(currency)
    if exponent == 0:
        return str(amount)
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), 10**exponent)
    return f"{sign}{whole}.{frac:0{exponent}d}"


@dataclass(frozen=True, slots=True)
class Money:
    amount: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise TypeError("Money.amount must be an int number of minor units")
        minor_units(self.currency)

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def times(self, factor: Fraction | int) -> Money:
        """Multiply by an exact factor, rounding half-up to the minor unit."""
        return Money(round_half_up(Fraction(self.amount) * factor), self.currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot combine {self.currency} with {other.currency}")

    def __str__(self) -> str:
        return f"{format_minor(self.amount, self.currency)} {self.currency}"


def percent_text(rate: Fraction) -> str:
    """A rate as an exact percent string: ``Fraction(1, 4)`` -> ``"25"``, 29/400 -> ``"7.25"``.

    Rates come from decimal strings, so the expansion terminates; it is cut at 6 places only
    to bound a pathological input.
    """
    percent = rate * 100
    sign = "-" if percent < 0 else ""
    percent = abs(percent)
    whole, remainder = divmod(percent.numerator, percent.denominator)
    digits: list[str] = []
    while remainder and len(digits) < 6:
        remainder *= 10
        digit, remainder = divmod(remainder, percent.denominator)
        digits.append(str(digit))
    return f"{sign}{whole}.{''.join(digits)}" if digits else f"{sign}{whole}"
