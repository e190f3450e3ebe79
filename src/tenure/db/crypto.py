"""Secrets at rest: columns whose values the database alone never reveals.

A column typed :class:`Encrypted` is encrypted with Fernet (AES-128-CBC + HMAC-SHA256, from
the ``cryptography`` package) before it is written and decrypted when read, so code above
sees plain values and a database dump, backup or replica holds only ciphertext. The keys come
from ``TENURE_SECRET_KEY``: one or more Fernet keys, comma-separated, the first encrypting and
every one decrypting (MultiFernet). Rotating without downtime:

1. deploy with ``TENURE_SECRET_KEY=new,old`` (every process reads both);
2. ``tenure secrets reencrypt`` rewrites every stored secret with ``new``;
3. deploy with ``TENURE_SECRET_KEY=new``.

Without a key, values are written as they are (a warning at start-up; docs/security.md says
to set one) and rows written before encryption existed are read as they are, so
``tenure secrets reencrypt`` can encrypt them once a key is set.
"""

from __future__ import annotations

from typing import Any, Final

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

MARK: Final = "enc:v1:"
ENV: Final = "TENURE_SECRET_KEY"


class SecretKeyError(RuntimeError):
    """A stored secret cannot be read with the configured keys (or no key is configured)."""


class _Keys:
    def __init__(self) -> None:
        self.loaded = False
        self.fernet: MultiFernet | None = None

    def configure(self, value: str | None) -> None:
        """Set the keys from ``TENURE_SECRET_KEY``'s text (``None``: no encryption)."""
        parts = [part.strip() for part in (value or "").split(",") if part.strip()]
        try:
            self.fernet = MultiFernet([Fernet(part.encode()) for part in parts]) if parts else None
        except ValueError:
            raise ValueError(
                f"{ENV} must be Fernet keys (32 url-safe base64 bytes each), comma-separated; "
                "make one with `tenure secrets generate-key`"
            ) from None
        self.loaded = True

    def current(self) -> MultiFernet | None:
        if not self.loaded:
            from tenure.settings import secret  # NAME or NAME_FILE, like every secret

            self.configure(secret(ENV))
        return self.fernet


KEYS: Final = _Keys()


def configure(value: str | None) -> None:
    KEYS.configure(value)


def enabled() -> bool:
    return KEYS.current() is not None


def generate_key() -> str:
    return Fernet.generate_key().decode()


def encrypt(value: str) -> str:
    fernet = KEYS.current()
    if fernet is None:
        return value
    return MARK + fernet.encrypt(value.encode()).decode()


def decrypt(stored: str) -> str:
    if not stored.startswith(MARK):
        return stored  # written before a key was configured
    fernet = KEYS.current()
    if fernet is None:
        raise SecretKeyError(f"a stored secret is encrypted but {ENV} is not set")
    try:
        return fernet.decrypt(stored[len(MARK) :].encode()).decode()
    except InvalidToken:
        raise SecretKeyError(
            f"a stored secret was encrypted with a key that is not in {ENV}"
        ) from None


def is_current(stored: str) -> bool:
    """Whether ``stored`` is already encrypted with the first (current) key."""
    fernet = KEYS.current()
    if fernet is None or not stored.startswith(MARK):
        return fernet is None
    first = fernet._fernets[0]  # MultiFernet keeps its keys in order; the first encrypts
    try:
        first.decrypt(stored[len(MARK) :].encode())
    except InvalidToken:
        return False
    return True


class Encrypted(TypeDecorator[str]):
    """Text encrypted at rest (see the module docstring)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else encrypt(str(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else decrypt(str(value))
