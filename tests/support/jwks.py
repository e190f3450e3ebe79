"""A test identity provider: RSA and EC keys, a JWKS served over real HTTP on 127.0.0.1, and
tokens signed with them (what a business's IdP would issue to its app's users)."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ISSUER = "https://id.example.test/"
AUDIENCE = "tenure-test-app"


@dataclass
class SigningKey:
    kid: str
    algorithm: str
    private: Any

    def jwk(self) -> dict[str, Any]:
        public = self.private.public_key()
        codec = RSAAlgorithm if self.algorithm == "RS256" else ECAlgorithm
        data: dict[str, Any] = json.loads(codec.to_jwk(public))
        data.update(kid=self.kid, use="sig", alg=self.algorithm)
        return data


def rsa_key(kid: str | None = None) -> SigningKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return SigningKey(kid or f"rsa-{uuid.uuid4().hex[:8]}", "RS256", private)


def ec_key(kid: str | None = None) -> SigningKey:
    return SigningKey(
        kid or f"ec-{uuid.uuid4().hex[:8]}", "ES256", ec.generate_private_key(ec.SECP256R1())
    )


@dataclass
class IdentityProvider:
    keys: list[SigningKey] = field(default_factory=list)
    url: str = ""
    fetches: int = 0

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.jwk() for key in self.keys]}

    def token(
        self,
        subject: str,
        *,
        key: SigningKey | None = None,
        expires_in: float = 300,
        claims: dict[str, Any] | None = None,
        headers: dict[str, Any] | None = None,
    ) -> str:
        key = key or self.keys[0]
        now = int(time.time())
        payload = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": subject,
            "iat": now,
            "exp": now + int(expires_in),
            **(claims or {}),
        }
        return jwt.encode(
            payload,
            key.private,
            algorithm=key.algorithm,
            headers={"kid": key.kid, **(headers or {})},
        )


@contextlib.asynccontextmanager
async def serve(provider: IdentityProvider) -> AsyncIterator[IdentityProvider]:
    """The JWKS over HTTP from a thread of its own: the app under test may run its requests
    on another event loop (the test client's portal), so the server must not share one."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            provider.fetches += 1
            body = json.dumps(provider.jwks()).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    provider.url = f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
