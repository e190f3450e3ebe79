"""What reaches a log line: scrubbed text, safe request ids, one-line exceptions, and the scanner
that checks the whole test run."""

from __future__ import annotations

import io
import json
import re

import pytest

from tenure.observability import logs
from tenure.observability.context import accept_request_id, new_request_id
from tenure.observability.redact import Scrubber, has_card_number, luhn_valid
from tests.support.logscan import findings


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("card 4242 4242 4242 4242 declined", "card [card] declined"),
        ("pan=4000-0566-5566-5556;", "pan=[card];"),
        ("Authorization: Bearer abc.def.ghi", "Authorization: Bearer [redacted]"),
        ("key sk_3bQ9f8x7Yw2Lm4Nz and more", "key [redacted] and more"),
        ("signing with whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "signing with [redacted]"),
        ("order 1234567890123 is fine", "order 1234567890123 is fine"),  # not Luhn-valid
        ("took 0.4242424242424242 s", "took 0.4242424242424242 s"),  # a decimal fraction
    ],
)
def test_the_scrubber(text: str, expected: str) -> None:
    assert Scrubber().text(text) == expected


def test_literal_secrets_and_luhn() -> None:
    assert Scrubber(["tenure_dev_key"]).text("key=tenure_dev_key") == "key=[redacted]"
    assert luhn_valid("4242424242424242") and not luhn_valid("4242424242424241")
    assert has_card_number("x 5555 5555 5555 4444 y") and not has_card_number("2026-12-01")


@pytest.mark.parametrize(
    ("offered", "accepted"),
    [
        ("checkout-7f3a", True),
        ("01J9ZQ8Y3M4X5V6W7T8S9R0Q1P", True),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", True),
        ("", False),
        ("x" * 129, False),
        ("new\nline", False),
        ("4242424242424242", False),
        ("4242-4242-4242-4242", False),
    ],
)
def test_request_ids(offered: str, accepted: bool) -> None:
    assert (accept_request_id(offered) == offered) is accepted


def test_generated_request_ids_are_unique_and_never_look_like_card_numbers() -> None:
    ids = {new_request_id() for _ in range(100_000)}
    assert len(ids) == 100_000 and all(i.startswith("req_") for i in ids)
    assert not any(re.search(r"\d{9}", i) or has_card_number(i) for i in ids)
    assert all(accept_request_id(i) == i for i in list(ids)[:100])  # and are reused as given


def _record(**fields: object) -> dict[str, object]:
    buffer = io.StringIO()
    logs.configure(fmt="json", level="info", stream=buffer, force=True)
    try:
        logs.configure()  # a second call changes nothing
        import structlog

        structlog.get_logger("test").error("thing.failed", **fields)
    finally:
        from tests.support import logscan

        logs.configure(
            fmt="json", level="info", stream=logscan._Tee(logscan._state["file"]), force=True
        )
    [line] = buffer.getvalue().splitlines()
    record: dict[str, object] = json.loads(line)
    return record


def test_an_exception_is_one_line_without_locals() -> None:
    def fail(card: str, api_key: str) -> None:
        raise ValueError(f"bad input near {card[:4]}")

    try:
        fail("4242424242424242", "sk_abcdefghijklmnopqrstuvwxyz")
    except ValueError as error:
        record = _record(exc_info=error, body='{"card": 1}', note="Bearer xyz123456")
    assert record["exc_type"] == "ValueError"
    assert record["exc_message"] == "bad input near 4242"
    assert "test_log_safety.py" in str(record["traceback"]) and "fail" in str(record["traceback"])
    assert record["body"] == "[redacted]"
    assert record["note"] == "Bearer [redacted]"
    text = json.dumps(record)
    assert "sk_abcdefghijklmnop" not in text and "4242424242424242" not in text


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"event":"x","authorization":"Bearer test-key"}', "API key 'test-key'"),
        ('{"event":"x","detail":"4242 4242 4242 4242"}', "card number"),
        ('{"event":"x","detail":"got {\\"email\\": \\"a@example.com\\"}"}', "request body"),
        ('{"event":"x","secret":"sk_0123456789abcdefghij"}', "secret or bearer token"),
        ("Traceback (most recent call last):", "multi-line traceback"),
    ],
)
def test_the_log_scanner_finds_leaks(line: str, problem: str) -> None:
    assert problem in findings(line)


def test_the_log_scanner_passes_clean_lines() -> None:
    line = (
        '{"timestamp":"2026-12-01T17:09:45.983648Z","level":"info","event":"http.request",'
        '"method":"GET","route":"/v1/plans","status":200,"duration_ms":0.5127601869999125,'
        '"request_id":"req_qkvzrnbtwplmxd_12"}'
    )
    assert findings(line) == []
