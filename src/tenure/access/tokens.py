"""End users' tokens: JWTs from the business's identity provider, verified against its JWKS.

Only asymmetric signatures (RS256, ES256) are accepted, and each only with a key of its own
type: ``none`` and HMAC (including HMAC keyed with a public key, the classic confusion attack)
are refused before any key is looked at. The JWKS is fetched once, cached, and fetched again
when a token names a ``kid`` it does not hold (key rotation), at most once per
``refresh_interval`` so unknown ids cannot make Tenure hammer the identity provider. Issuer,
audience and expiry are required and checked, with a small leeway for clock skew. The subject
claim (``sub`` by default) is the customer's ``external_id``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

import httpx
import jwt
from jwt import PyJWK, PyJWKSet

ALGORITHMS: Final = {"RS256": "RSA", "ES256": "EC"}

Fetch = Callable[[str], Awaitable[dict[str, Any]]]


class InvalidToken(Exception):
    """The token is not one Tenure accepts; the message says why (never the token)."""


class KeysUnavailable(Exception):
    """The identity provider's JWKS could not be read: a dependency is down (503), not a bad
    token. Tried again after ``refresh_interval``."""


@dataclass(frozen=True, slots=True)
class TokenSettings:
    jwks_url: str
    issuer: str
    audience: str
    subject_claim: str = "sub"
    leeway: float = 30.0  # seconds of clock skew tolerated on exp/nbf/iat
    refresh_interval: float = 30.0  # least time between two JWKS fetches for unknown kids


async def _fetch(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=5.0, follow_redirects=False) as client:
        response = await client.get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body


class TokenVerifier:
    def __init__(self, settings: TokenSettings, *, fetch: Fetch = _fetch) -> None:
        self.settings = settings
        self._fetch = fetch
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at: float | None = None
        self._failed = False
        self._lock = asyncio.Lock()

    async def _refresh(self, *, force: bool) -> None:
        async with self._lock:
            now = time.monotonic()
            recent = (
                self._fetched_at is not None
                and now - self._fetched_at < self.settings.refresh_interval
            )
            if self._fetched_at is not None and (recent or not force):
                if self._failed and not self._keys:
                    raise KeysUnavailable("the identity provider's keys could not be read")
                return
            try:
                document = await self._fetch(self.settings.jwks_url)
                found = PyJWKSet.from_dict(document)
            except (httpx.HTTPError, jwt.PyJWTError, ValueError, TypeError) as error:
                self._fetched_at = now  # do not retry on every request while it is down
                self._failed = True
                if self._keys and not force:
                    return
                raise KeysUnavailable(
                    f"the identity provider's keys could not be read ({type(error).__name__})"
                ) from None
            self._keys = {key.key_id: key for key in found.keys if key.key_id}
            self._fetched_at = now
            self._failed = False

    async def _key(self, kid: str) -> PyJWK:
        if self._fetched_at is None:
            await self._refresh(force=False)
        key = self._keys.get(kid)
        if key is None:
            await self._refresh(force=True)  # rotated: look again (rate-limited)
            key = self._keys.get(kid)
        if key is None:
            raise InvalidToken("the token's key id (kid) is not in the identity provider's keys")
        return key

    async def verify(self, token: str) -> str:
        """The subject (the customer's external id) of a valid token, else InvalidToken."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("the bearer token is not a JWT") from None
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise InvalidToken(f"tokens must be signed with {' or '.join(ALGORITHMS)}")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("the token has no key id (kid)")
        key = await self._key(kid)
        if key.key_type != ALGORITHMS[algorithm]:
            raise InvalidToken("the token's algorithm does not match its key")
        claim = self.settings.subject_claim
        try:
            claims = jwt.decode(
                token,
                key=key.key,
                algorithms=[algorithm],
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                leeway=self.settings.leeway,
                options={"require": ["exp", "iss", "aud", claim]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the token has expired") from None
        except jwt.PyJWTError as error:
            raise InvalidToken(f"the token is not valid ({type(error).__name__})") from None
        subject = claims.get(claim)
        if not isinstance(subject, str) or not 1 <= len(subject) <= 200:
            raise InvalidToken(f"the token's {claim!r} claim must be text of 1 to 200 characters")
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in subject):
            raise InvalidToken(f"the token's {claim!r} claim has control characters")
        return subject
