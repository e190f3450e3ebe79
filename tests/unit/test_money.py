"""Money kernel: exact minor units, half-up rounding, ISO 4217 exponents."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tenure.kernel.money import (
    MINOR_UNITS,
    Money,
    UnknownCurrency,
    format_minor,
    minor_units,
    parse_decimal,
    round_half_up,
    to_minor,
)

# --------------------------------------------------------------------------- round_half_up


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Fraction(5, 2), 3),
        (Fraction(-5, 2), -3),
        (Fraction(1, 2), 1),
        (Fraction(-1, 2), -1),
        (Fraction(3, 2), 2),
        (Fraction(-3, 2), -2),
        (Fraction(7, 3), 2),
        (Fraction(-7, 3), -2),
        (Fraction(8, 3), 3),
        (Fraction(-8, 3), -3),
        (Fraction(1, 3), 0),
        (Fraction(-1, 3), 0),
        (Fraction(499, 1000), 0),
        (Fraction(-499, 1000), 0),
        (Fraction(1001, 2000), 1),
        (Fraction(12345, 10), 1235),
        (Fraction(-12345, 10), -1235),
        (Fraction(0), 0),
        (Fraction(10, 5), 2),
        (Fraction(-10, 5), -2),
    ],
)
def test_round_half_up_fractions(value: Fraction, expected: int) -> None:
    result = round_half_up(value)
    assert result == expected
    assert type(result) is int


@pytest.mark.parametrize("value", [0, 1, -1, 42, -42, 10**30, -(10**30)])
def test_round_half_up_passes_ints_through(value: int) -> None:
    result = round_half_up(value)
    assert result == value
    assert type(result) is int


def test_round_half_up_differs_from_bankers_rounding() -> None:
    # Python's round() is banker's rounding: 5/2 -> 2. Billing must not do that.
    assert round(Fraction(5, 2)) == 2
    assert round_half_up(Fraction(5, 2)) == 3
    assert round_half_up(Fraction(9, 2)) == 5


@settings(max_examples=300, deadline=None)
@given(
    numerator=st.integers(min_value=-(10**12), max_value=10**12),
    denominator=st.integers(min_value=1, max_value=10**6),
)
def test_round_half_up_is_nearest_with_halves_away_from_zero(
    numerator: int, denominator: int
) -> None:
    value = Fraction(numerator, denominator)
    result = round_half_up(value)
    distance = abs(value - result)
    assert distance <= Fraction(1, 2)
    if distance == Fraction(1, 2):
        # A tie goes away from zero.
        assert abs(result) > abs(value)
    # Symmetric around zero.
    assert round_half_up(-value) == -result


# --------------------------------------------------------------------------- minor_units


@pytest.mark.parametrize(
    ("currency", "exponent"),
    [("JPY", 0), ("KRW", 0), ("CLP", 0), ("KWD", 3), ("BHD", 3), ("SEK", 2), ("EUR", 2)],
)
def test_minor_units_known(currency: str, exponent: int) -> None:
    assert minor_units(currency) == exponent


@pytest.mark.parametrize("currency", ["XXX", "sek", "", "SEK ", "US", "EURO"])
def test_minor_units_unknown_raises(currency: str) -> None:
    with pytest.raises(UnknownCurrency) as excinfo:
        minor_units(currency)
    assert excinfo.value.code == currency
    assert repr(currency) in str(excinfo.value)


def test_unknown_currency_is_a_value_error() -> None:
    assert issubclass(UnknownCurrency, ValueError)


def test_minor_units_table_is_well_formed() -> None:
    for code, exponent in MINOR_UNITS.items():
        assert len(code) == 3
        assert code.isascii()
        assert code.isupper()
        assert exponent in (0, 2, 3)


# --------------------------------------------------------------------------- to_minor


@pytest.mark.parametrize(
    ("major", "currency", "expected"),
    [
        ("129.00", "SEK", 12900),
        ("129", "SEK", 12900),
        ("129.5", "SEK", 12950),
        ("0.01", "SEK", 1),
        ("-4.20", "EUR", -420),
        (" 7.25 ", "USD", 725),
        ("1480", "JPY", 1480),
        ("0", "JPY", 0),
        ("2.500", "KWD", 2500),
        ("2.5", "KWD", 2500),
        ("0.001", "KWD", 1),
        ("1480.0", "JPY", 1480),
    ],
)
def test_to_minor(major: str, currency: str, expected: int) -> None:
    result = to_minor(major, currency)
    assert result == expected
    assert type(result) is int


@pytest.mark.parametrize(
    ("major", "currency"),
    [
        ("129.001", "SEK"),
        ("0.005", "EUR"),
        ("1480.5", "JPY"),
        ("0.1", "JPY"),
        ("2.5001", "KWD"),
        ("0.0001", "BHD"),
    ],
)
def test_to_minor_too_many_decimals_raises(major: str, currency: str) -> None:
    with pytest.raises(ValueError, match="more decimals"):
        to_minor(major, currency)


def test_to_minor_unknown_currency_raises() -> None:
    with pytest.raises(UnknownCurrency):
        to_minor("1.00", "XXX")


def test_to_minor_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        to_minor("twelve", "SEK")


def test_parse_decimal_is_exact() -> None:
    # 0.1 is not representable as a float; parsing must be exact.
    assert parse_decimal("0.1") == Fraction(1, 10)
    assert parse_decimal("0.1") + parse_decimal("0.2") == parse_decimal("0.3")
    assert parse_decimal(" 12.5 ") == Fraction(25, 2)


# --------------------------------------------------------------------------- format_minor


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (12900, "SEK", "129.00"),
        (1, "SEK", "0.01"),
        (0, "SEK", "0.00"),
        (-1, "SEK", "-0.01"),
        (-12345, "EUR", "-123.45"),
        (1500, "JPY", "1500"),
        (-1500, "JPY", "-1500"),
        (0, "JPY", "0"),
        (3500, "KWD", "3.500"),
        (5, "KWD", "0.005"),
        (-5, "KWD", "-0.005"),
    ],
)
def test_format_minor(amount: int, currency: str, expected: str) -> None:
    assert format_minor(amount, currency) == expected


def test_format_minor_unknown_currency_raises() -> None:
    with pytest.raises(UnknownCurrency):
        format_minor(100, "XXX")


@settings(max_examples=400, deadline=None)
@given(
    amount=st.integers(min_value=-(10**15), max_value=10**15),
    currency=st.sampled_from(sorted(MINOR_UNITS)),
)
def test_format_minor_round_trips(amount: int, currency: str) -> None:
    text = format_minor(amount, currency)
    assert to_minor(text, currency) == amount
    exponent = MINOR_UNITS[currency]
    if exponent == 0:
        assert "." not in text
    else:
        assert len(text.rsplit(".", 1)[1]) == exponent


# --------------------------------------------------------------------------- Money


def test_money_holds_minor_units() -> None:
    money = Money(12900, "SEK")
    assert money.amount == 12900
    assert money.currency == "SEK"
    assert str(money) == "129.00 SEK"
    assert str(Money(1480, "JPY")) == "1480 JPY"
    assert str(Money(2500, "KWD")) == "2.500 KWD"


@pytest.mark.parametrize("amount", [1.0, 12.5, 0.0, float("nan")])
def test_money_refuses_float(amount: float) -> None:
    with pytest.raises(TypeError):
        Money(amount, "SEK")  # type: ignore[arg-type]


@pytest.mark.parametrize("amount", [True, False])
def test_money_refuses_bool(amount: bool) -> None:
    with pytest.raises(TypeError):
        Money(amount, "SEK")


@pytest.mark.parametrize("amount", [Fraction(1, 2), Fraction(4, 1), "100", None])
def test_money_refuses_other_non_ints(amount: object) -> None:
    with pytest.raises(TypeError):
        Money(amount, "SEK")  # type: ignore[arg-type]


@pytest.mark.parametrize("currency", ["XXX", "sek", ""])
def test_money_refuses_unknown_currency(currency: str) -> None:
    with pytest.raises(UnknownCurrency):
        Money(100, currency)


def test_money_is_immutable_and_hashable() -> None:
    money = Money(100, "EUR")
    with pytest.raises(AttributeError):
        money.amount = 200  # type: ignore[misc]
    assert money == Money(100, "EUR")
    assert money != Money(100, "USD")
    assert len({money, Money(100, "EUR"), Money(101, "EUR")}) == 2


def test_money_arithmetic_same_currency() -> None:
    a = Money(1050, "EUR")
    b = Money(250, "EUR")
    assert a + b == Money(1300, "EUR")
    assert a - b == Money(800, "EUR")
    assert b - a == Money(-800, "EUR")
    assert -a == Money(-1050, "EUR")


def test_money_addition_across_currencies_raises() -> None:
    with pytest.raises(ValueError, match="cannot combine EUR with USD"):
        Money(100, "EUR") + Money(100, "USD")


def test_money_subtraction_across_currencies_raises() -> None:
    with pytest.raises(ValueError, match="cannot combine"):
        Money(100, "SEK") - Money(100, "NOK")


@pytest.mark.parametrize(
    ("amount", "factor", "expected"),
    [
        (5, Fraction(1, 2), 3),  # 2.5 -> 3
        (-5, Fraction(1, 2), -3),  # -2.5 -> -3
        (7, Fraction(1, 3), 2),  # 2.33 -> 2
        (8, Fraction(1, 3), 3),  # 2.67 -> 3
        (12900, Fraction(15, 31), 6242),  # 6241.935... -> 6242
        (12900, Fraction(1, 3), 4300),
        (999, Fraction(1, 2), 500),  # 499.5 -> 500
        (1000, 3, 3000),
        (1000, Fraction(0), 0),
    ],
)
def test_money_times_rounds_half_up(amount: int, factor: Fraction | int, expected: int) -> None:
    result = Money(amount, "SEK").times(factor)
    assert result == Money(expected, "SEK")
    assert type(result.amount) is int


def test_money_times_keeps_currency() -> None:
    assert Money(2500, "KWD").times(Fraction(1, 2)).currency == "KWD"


@settings(max_examples=300, deadline=None)
@given(
    a=st.integers(min_value=-(10**12), max_value=10**12),
    b=st.integers(min_value=-(10**12), max_value=10**12),
    currency=st.sampled_from(sorted(MINOR_UNITS)),
)
def test_money_addition_is_exact(a: int, b: int, currency: str) -> None:
    total = Money(a, currency) + Money(b, currency)
    assert total == Money(a + b, currency)
    assert total - Money(b, currency) == Money(a, currency)
