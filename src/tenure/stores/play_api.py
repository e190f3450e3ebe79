"""The Google Play Developer API over httpx (docs/decisions/0002-store-clients.md).

Two calls: ``purchases.subscriptionsv2.get`` (the state of a purchase token) and
``purchases.subscriptions.acknowledge``. Authentication is the service account's OAuth 2.0
JWT bearer grant: a JWT signed (RS256) with the key file's private key is exchanged at the key
file's ``token_uri`` for an access token, cached until shortly before it expires. The base URL
and the token URI come from configuration and the key file, so tests and ``make run`` point
them at the fake (:mod:`tenure.stores.fakes`).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Final
from urllib.parse import quote

import httpx
import jwt

from tenure.store_settings import StoreConfigError, StoreSettings
from tenure.stores.errors import PurchaseNotFound, StoreUnavailable

SCOPE: Final = "https://www.googleapis.com/auth/androidpublisher"
GRANT: Final = "urn:ietf:params:oauth:grant-type:jwt-bearer"


class PlayApi:
    def __init__(self, settings: StoreSettings, http: httpx.AsyncClient) -> None:
        if not settings.google_play_service_account:
            raise StoreConfigError("TENURE_GOOGLE_PLAY_SERVICE_ACCOUNT is not set")
        try:
            key = json.loads(settings.google_play_service_account)
            self._email = str(key["client_email"])
            self._private_key = str(key["private_key"])
            self._token_uri = str(key.get("token_uri") or "https://oauth2.googleapis.com/token")
        except (ValueError, KeyError, TypeError):
            raise StoreConfigError(
                "TENURE_GOOGLE_PLAY_SERVICE_ACCOUNT is not a service account JSON key "
                "(client_email, private_key, token_uri)"
            ) from None
        # httpx logs every request URL at INFO, and Google's URLs carry the purchase token:
        # no token may reach a log line.
        logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger("httpx").level))
        self._package = str(settings.google_play_package_name)
        self._base = settings.google_play_api_url.rstrip("/")
        self._http = http
        self._token: tuple[str, float] | None = None

    def _url(self, path: str) -> str:
        return f"{self._base}/androidpublisher/v3/applications/{quote(self._package)}/{path}"

    async def _access_token(self) -> str:
        if self._token is not None and self._token[1] > time.time() + 60:
            return self._token[0]
        now = int(time.time())
        assertion = jwt.encode(
            {
                "iss": self._email,
                "scope": SCOPE,
                "aud": self._token_uri,
                "iat": now,
                "exp": now + 3600,
            },
            self._private_key,
            algorithm="RS256",
        )
        response = await self._send(
            "POST",
            self._token_uri,
            data={
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "assertion": assertion,
            },
            auth=False,
        )
        body = response.json()
        self._token = (str(body["access_token"]), time.time() + float(body.get("expires_in", 3600)))
        return self._token[0]

    async def _send(
        self, method: str, url: str, *, auth: bool = True, **kwargs: Any
    ) -> httpx.Response:
        response = await self._request(method, url, auth=auth, **kwargs)
        if response.status_code == 401 and auth:
            # The access token was revoked or the key rotated before it expired: forget it and
            # ask once more with a new one.
            self._token = None
            response = await self._request(method, url, auth=auth, **kwargs)
        if response.status_code in (404, 410):
            raise PurchaseNotFound(f"Google Play answered {response.status_code}")
        if response.status_code == 429 or response.status_code >= 500:
            raise StoreUnavailable(f"Google Play answered {response.status_code}")
        if response.status_code >= 400:
            # A 4xx other than not-found is a configuration problem (package, permissions).
            raise StoreUnavailable(f"Google Play refused the call: HTTP {response.status_code}")
        return response

    async def _request(self, method: str, url: str, *, auth: bool, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {await self._access_token()}"} if auth else {}
        try:
            return await self._http.request(method, url, headers=headers, **kwargs)
        except httpx.HTTPError as error:
            raise StoreUnavailable(f"Google Play: {type(error).__name__}") from None

    async def subscription(self, token: str) -> dict[str, Any]:
        """``purchases.subscriptionsv2.get``: the purchase's current state."""
        response = await self._send("GET", self._url(f"purchases/subscriptionsv2/tokens/{token}"))
        body: dict[str, Any] = response.json()
        return body

    async def acknowledge(self, product_id: str, token: str) -> None:
        """``purchases.subscriptions.acknowledge`` (the product id without the base plan)."""
        product = product_id.partition(":")[0]
        await self._send(
            "POST",
            self._url(f"purchases/subscriptions/{quote(product)}/tokens/{token}:acknowledge"),
            json={},
        )
