"""Clock, UTC normalization, RFC 3339 and prefixed ids."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tenure.kernel.clock import FixedClock, SystemClock, ensure_utc, parse_rfc3339, rfc3339
from tenure.kernel.ids import PREFIXES, is_valid_id, new_id

PLUS_TWO = timezone(timedelta(hours=2))
MINUS_FIVE_THIRTY = timezone(-timedelta(hours=5, minutes=30))

# --------------------------------------------------------------------------- ensure_utc


def test_ensure_utc_rejects_naive() -> None:
    naive = datetime(2025, 1, 31, 10, 0)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="naive"):
        ensure_utc(naive)


def test_ensure_utc_converts_plus_two_to_utc() -> None:
    local = datetime(2025, 1, 31, 12, 0, tzinfo=PLUS_TWO)
    result = ensure_utc(local)
    assert result == datetime(2025, 1, 31, 10, 0, tzinfo=UTC)
    assert result.tzinfo is UTC
    assert result.utcoffset() == timedelta(0)
    assert result.hour == 10


def test_ensure_utc_converts_negative_offset_across_midnight() -> None:
    local = datetime(2025, 1, 31, 22, 0, tzinfo=MINUS_FIVE_THIRTY)
    result = ensure_utc(local)
    assert result == datetime(2025, 2, 1, 3, 30, tzinfo=UTC)
    assert (result.year, result.month, result.day, result.hour, result.minute) == (
        2025,
        2,
        1,
        3,
        30,
    )


def test_ensure_utc_keeps_utc_values() -> None:
    value = datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC)
    assert ensure_utc(value) == value
    assert ensure_utc(value).tzinfo is UTC


# --------------------------------------------------------------------------- rfc3339


def test_rfc3339_uses_z() -> None:
    assert rfc3339(datetime(2025, 1, 31, 10, 0, tzinfo=UTC)) == "2025-01-31T10:00:00Z"


def test_rfc3339_converts_offsets_to_z() -> None:
    assert rfc3339(datetime(2025, 1, 31, 12, 0, tzinfo=PLUS_TWO)) == "2025-01-31T10:00:00Z"


def test_rfc3339_includes_microseconds_only_when_present() -> None:
    with_micros = datetime(2025, 1, 31, 10, 0, 0, 123456, tzinfo=UTC)
    assert rfc3339(with_micros) == "2025-01-31T10:00:00.123456Z"


def test_rfc3339_rejects_naive() -> None:
    with pytest.raises(ValueError):
        rfc3339(datetime(2025, 1, 31, 10, 0))  # noqa: DTZ001 - the point of the test


# --------------------------------------------------------------------------- parse_rfc3339


@pytest.mark.parametrize("text", ["2025-01-31T10:00:00Z", "2025-01-31T10:00:00z"])
def test_parse_rfc3339_accepts_z(text: str) -> None:
    result = parse_rfc3339(text)
    assert result == datetime(2025, 1, 31, 10, 0, tzinfo=UTC)
    assert result.tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    [
        "2025-01-31T12:00:00+02:00",
        "2025-01-31T04:30:00-05:30",
        "2025-01-31T10:00:00+00:00",
        " 2025-01-31T10:00:00Z ",
    ],
)
def test_parse_rfc3339_accepts_offsets_and_normalizes(text: str) -> None:
    result = parse_rfc3339(text)
    assert result == datetime(2025, 1, 31, 10, 0, tzinfo=UTC)
    assert result.tzinfo is UTC
    assert result.hour == 10


@pytest.mark.parametrize("text", ["2025-01-31T10:00:00", "2025-01-31", "2025-01-31T10:00"])
def test_parse_rfc3339_rejects_naive(text: str) -> None:
    with pytest.raises(ValueError, match="naive"):
        parse_rfc3339(text)


@pytest.mark.parametrize("text", ["", "yesterday", "2025-13-01T00:00:00Z"])
def test_parse_rfc3339_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rfc3339(text)


@pytest.mark.parametrize(
    "value",
    [
        datetime(2025, 1, 31, 10, 0, tzinfo=UTC),
        datetime(2024, 2, 29, 23, 59, 59, 1, tzinfo=UTC),
        datetime(2025, 6, 1, 1, 2, 3, tzinfo=PLUS_TWO),
    ],
)
def test_rfc3339_round_trip(value: datetime) -> None:
    assert parse_rfc3339(rfc3339(value)) == value


# --------------------------------------------------------------------------- clocks


def test_fixed_clock_returns_fixed_time() -> None:
    at = datetime(2025, 1, 31, 10, 0, tzinfo=UTC)
    clock = FixedClock(at)
    assert clock.now() == at
    assert clock.now() == at  # does not advance on its own


def test_fixed_clock_set_moves_time() -> None:
    clock = FixedClock(datetime(2025, 1, 31, 10, 0, tzinfo=UTC))
    later = datetime(2025, 2, 28, 10, 0, tzinfo=UTC)
    clock.set(later)
    assert clock.now() == later
    earlier = datetime(2020, 1, 1, tzinfo=UTC)
    clock.set(earlier)
    assert clock.now() == earlier


def test_fixed_clock_normalizes_to_utc() -> None:
    clock = FixedClock(datetime(2025, 1, 31, 12, 0, tzinfo=PLUS_TWO))
    assert clock.now().tzinfo is UTC
    assert clock.now().hour == 10
    clock.set(datetime(2025, 1, 31, 14, 0, tzinfo=PLUS_TWO))
    assert clock.now().tzinfo is UTC
    assert clock.now().hour == 12


def test_fixed_clock_rejects_naive() -> None:
    with pytest.raises(ValueError):
        FixedClock(datetime(2025, 1, 31))  # noqa: DTZ001 - the point of the test
    clock = FixedClock(datetime(2025, 1, 31, tzinfo=UTC))
    with pytest.raises(ValueError):
        clock.set(datetime(2025, 2, 1))  # noqa: DTZ001 - the point of the test
    assert clock.now() == datetime(2025, 1, 31, tzinfo=UTC)


def test_system_clock_is_aware_utc_and_current() -> None:
    before = datetime.now(UTC)
    now = SystemClock().now()
    after = datetime.now(UTC)
    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)
    assert before <= now <= after


# --------------------------------------------------------------------------- ids

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def test_new_id_shape() -> None:
    value = new_id("cus")
    assert re.fullmatch(r"cus_[0-9A-HJKMNP-TV-Z]{26}", value)
    assert len(value) == len("cus_") + 26
    assert is_valid_id(value, "cus")


@pytest.mark.parametrize("prefix", sorted(PREFIXES))
def test_new_id_valid_for_every_prefix(prefix: str) -> None:
    value = new_id(prefix)
    assert value.startswith(f"{prefix}_")
    assert is_valid_id(value, prefix)


def test_new_ids_are_unique() -> None:
    ids = [new_id("cus") for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert all(is_valid_id(value, "cus") for value in ids)


def test_new_ids_sort_by_creation_time() -> None:
    first = new_id("evt")
    # The leading 10 characters encode milliseconds; wait for the next millisecond.
    deadline = datetime.now(UTC) + timedelta(milliseconds=5)
    while datetime.now(UTC) < deadline:
        pass
    second = new_id("evt")
    assert first[4:14] < second[4:14]
    assert first < second


def test_new_id_time_prefix_encodes_now() -> None:
    before_ms = int(datetime.now(UTC).timestamp() * 1000)
    value = new_id("sub")
    after_ms = int(datetime.now(UTC).timestamp() * 1000)
    body = value.split("_", 1)[1]
    decoded = 0
    for char in body:
        decoded = decoded * 32 + CROCKFORD.index(char)
    millis = decoded >> 80
    assert before_ms - 1 <= millis <= after_ms + 1


def test_is_valid_id_rejects_wrong_prefix() -> None:
    value = new_id("cus")
    assert not is_valid_id(value, "sub")
    assert not is_valid_id(value, "cu")
    assert not is_valid_id(value, "cusx")
    assert not is_valid_id(value.replace("cus_", "sub_"), "cus")


def test_is_valid_id_rejects_missing_separator() -> None:
    body = new_id("cus")[4:]
    assert not is_valid_id(f"cus{body}", "cus")
    assert not is_valid_id(body, "cus")
    assert not is_valid_id(f"cus-{body}", "cus")


@pytest.mark.parametrize("length", [0, 1, 25, 27, 52])
def test_is_valid_id_rejects_wrong_length(length: int) -> None:
    assert not is_valid_id("cus_" + "0" * length, "cus")


def test_is_valid_id_accepts_every_crockford_char() -> None:
    for char in CROCKFORD:
        assert is_valid_id("cus_" + "0" * 25 + char, "cus"), char


@pytest.mark.parametrize("char", ["I", "L", "O", "U"])
def test_is_valid_id_rejects_letters_outside_crockford(char: str) -> None:
    body = "0" * 25 + char
    assert not is_valid_id(f"cus_{body}", "cus")
    assert not is_valid_id(f"cus_{char}{'0' * 25}", "cus")


@pytest.mark.parametrize("char", ["a", "z", "i", "l", "o", "u", "-", "_", " ", "!", "é"])
def test_is_valid_id_rejects_lowercase_and_invalid_chars(char: str) -> None:
    assert not is_valid_id("cus_" + "0" * 25 + char, "cus")


def test_is_valid_id_rejects_lowercased_id() -> None:
    body = "01JD3K6ZQ8N0V5X2T9E4M7B1CA"
    assert is_valid_id(f"cus_{body}", "cus")
    assert not is_valid_id(f"cus_{body.lower()}", "cus")
    assert not is_valid_id(f"CUS_{body}", "cus")


@pytest.mark.parametrize("suffix", ["\n", " ", "\t", "\r\n"])
def test_is_valid_id_rejects_trailing_whitespace(suffix: str) -> None:
    # An id read from a URL or a header must match exactly; "$" alone would let "\n" through.
    value = new_id("cus")
    assert not is_valid_id(value + suffix, "cus")
    assert not is_valid_id(suffix + value, "cus")
