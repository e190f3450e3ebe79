"""What must never reach a log line: secrets, bearer tokens, API keys and card numbers.

Log call sites pass ids and codes, never bodies or headers; this is the net under them for
text that comes from elsewhere (exception messages, library log records, a value someone logged
by mistake). Fields whose *name* says secret are replaced whole; free text is scrubbed of
bearer tokens, Tenure's secret formats and Luhn-valid 13 to 19 digit card numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

REDACTED: Final = "[redacted]"

# Field names whose values are never logged, whatever they hold.
SECRET_FIELDS: Final = frozenset(
    {
        "authorization",
        "api_key",
        "apikey",
        "key_secret",
        "secret",
        "secrets",
        "password",
        "token",
        "access_token",
        "refresh_token",
        "cookie",
        "set_cookie",
        "card",
        "card_number",
        "pan",
        "cvc",
        "body",
        "request_body",
        "headers",
    }
)

_SECRETS: Final = re.compile(
    r"(?i)\b(bearer|basic)\s+[^\s\"',;]+"  # Authorization header values
    r"|\b(?:sk|rk|whsec|pk)_[A-Za-z0-9_\-+/=]{8,}"  # Tenure / provider secret formats
)
# 13 to 19 digits, optionally grouped with single spaces or dashes (4242 4242 4242 4242); not
# the fraction of a decimal number (0.5127601869999125).
_CARD_CANDIDATE: Final = re.compile(r"(?<![\d.])\d(?:[ -]?\d){12,18}(?![\d])")


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _secret(match: re.Match[str]) -> str:
    scheme = match.group(1)
    return f"{scheme} {REDACTED}" if scheme else REDACTED


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"[ -]", "", match.group(0))
    return "[card]" if 13 <= len(digits) <= 19 and luhn_valid(digits) else match.group(0)


class Scrubber:
    """Scrubs free text; ``extra`` are literal secrets known to this process (its API key)."""

    def __init__(self, extra: Iterable[str] = ()) -> None:
        literals = sorted({value for value in extra if len(value) >= 6}, key=len, reverse=True)
        self._literals = (
            re.compile("|".join(re.escape(value) for value in literals)) if literals else None
        )

    def text(self, value: str) -> str:
        if len(value) < 8:
            return value
        value = _SECRETS.sub(
            lambda m: f"{m.group(1)} {REDACTED}" if m.group(1) else REDACTED, value
        )
        if self._literals is not None:
            value = self._literals.sub(REDACTED, value)
        return _CARD_CANDIDATE.sub(_card, value)


def has_card_number(value: str) -> bool:
    return any(_card(match) == "[card]" for match in _CARD_CANDIDATE.finditer(value))
