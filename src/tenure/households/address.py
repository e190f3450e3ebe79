"""Home addresses are compared by a salted hash of their normalized form. Pure."""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from typing import Final

from tenure.kernel.errors import InvalidRequest

_PUNCTUATION: Final = re.compile(r"[,.;:#/\\\-'\"()]+")
_SPACE: Final = re.compile(r"\s+")
MAX_LENGTH: Final = 500


def normalize(address: str) -> str:
    """Case, width, punctuation and spacing do not matter: "12  Main St." == "12 main st"."""
    text = unicodedata.normalize("NFKC", address).casefold()
    text = _PUNCTUATION.sub(" ", text)
    return _SPACE.sub(" ", text).strip()


def address_hash(address: str, salt: str) -> str:
    if len(address) > MAX_LENGTH or "\x00" in address:
        raise InvalidRequest(
            f"address must be at most {MAX_LENGTH} characters of text", code="invalid_address"
        )
    normalized = normalize(address)
    if not normalized:
        raise InvalidRequest("address must not be empty", code="invalid_address")
    return hmac.new(salt.encode(), normalized.encode(), hashlib.sha256).hexdigest()
