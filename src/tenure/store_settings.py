"""Store configuration from ``TENURE_APP_STORE_*`` and ``TENURE_GOOGLE_PLAY_*`` (docs/stores.md).

Beside ``tenure.settings`` (which every process reads), outside the module layers.

A store is enabled when its identity is set (``TENURE_APP_STORE_BUNDLE_ID``,
``TENURE_GOOGLE_PLAY_PACKAGE_NAME``); its notification route answers 503 until then. Keys and
tokens may come from files (``NAME_FILE``) and never appear in ``repr`` or logs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

APP_STORE_ENVIRONMENTS: Final = ("Production", "Sandbox", "LocalTesting", "Xcode")
# Apple's library does not check signatures for these two (they are StoreKit testing data).
UNSIGNED_ENVIRONMENTS: Final = frozenset({"LocalTesting", "Xcode"})


class StoreConfigError(ValueError):
    """A store setting is missing or wrong; the message names the variable, never a value."""


def _secret(name: str) -> str | None:
    value = os.environ.get(name)
    if value:
        return value.strip()
    path = os.environ.get(f"{name}_FILE")
    if path:
        return Path(path).read_text(encoding="utf-8").strip() or None
    return None


def _flag(value: str | None) -> bool | None:
    if value is None or value.strip() == "":
        return None
    return value.strip().lower() in ("1", "true", "yes", "on")


def _list(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


@dataclass(frozen=True)
class StoreSettings:
    # --- App Store -----------------------------------------------------------------------
    app_store_bundle_id: str | None = None
    app_store_app_apple_id: int | None = None
    app_store_environment: str = "Production"
    # DER files of the root certificates the signed data must chain to (Apple's roots).
    app_store_root_certificates: tuple[str, ...] = ()
    # OCSP checks of the certificate chain (Apple's recommendation); None: on in Production.
    app_store_online_checks: bool | None = None
    # LocalTesting / Xcode data is not signed; accepting it must be said out loud.
    app_store_allow_unverified: bool = False
    # The App Store Server API (reconciliation): an in-app purchase key from App Store Connect.
    app_store_api_key: str | None = field(default=None, repr=False)
    app_store_api_key_id: str | None = None
    app_store_api_issuer_id: str | None = None
    app_store_api_url: str | None = None  # None: Apple's URL for the environment
    # --- Google Play ---------------------------------------------------------------------
    google_play_package_name: str | None = None
    # The service account's JSON key, for the Play Developer API.
    google_play_service_account: str | None = field(default=None, repr=False)
    google_play_api_url: str = "https://androidpublisher.googleapis.com"
    # Pub/Sub push authentication: the OIDC token's audience (and its service account), or
    # a shared token in the push URL (?token=...) for local use.
    google_play_push_audience: str | None = None
    google_play_push_service_account: str | None = None
    google_play_push_token: str | None = field(default=None, repr=False)
    google_play_jwks_url: str = "https://www.googleapis.com/oauth2/v3/certs"
    # --- both ----------------------------------------------------------------------------
    products_path: str | None = None  # None: the packaged example mapping
    timeout: float = 5.0  # seconds per store API call
    # Hours after a period end (or grace end) without news before the store's API is asked.
    missed_after_hours: float = 6.0

    def __post_init__(self) -> None:
        if self.app_store_environment not in APP_STORE_ENVIRONMENTS:
            raise StoreConfigError(
                "TENURE_APP_STORE_ENVIRONMENT must be one of " + ", ".join(APP_STORE_ENVIRONMENTS)
            )

    @property
    def app_store_enabled(self) -> bool:
        return bool(self.app_store_bundle_id)

    @property
    def google_play_enabled(self) -> bool:
        return bool(self.google_play_package_name)

    @property
    def online_checks(self) -> bool:
        if self.app_store_online_checks is not None:
            return self.app_store_online_checks
        return self.app_store_environment == "Production"

    @classmethod
    def from_env(cls) -> StoreSettings:
        env = os.environ
        apple_id = env.get("TENURE_APP_STORE_APP_APPLE_ID") or None
        if apple_id is not None and not apple_id.strip().isdigit():
            raise StoreConfigError("TENURE_APP_STORE_APP_APPLE_ID must be a number")
        return cls(
            app_store_bundle_id=env.get("TENURE_APP_STORE_BUNDLE_ID") or None,
            app_store_app_apple_id=int(apple_id) if apple_id else None,
            app_store_environment=(env.get("TENURE_APP_STORE_ENVIRONMENT") or "Production").strip(),
            app_store_root_certificates=_list(env.get("TENURE_APP_STORE_ROOT_CERTIFICATES")),
            app_store_online_checks=_flag(env.get("TENURE_APP_STORE_ONLINE_CHECKS")),
            app_store_allow_unverified=bool(_flag(env.get("TENURE_APP_STORE_ALLOW_UNVERIFIED"))),
            app_store_api_key=_secret("TENURE_APP_STORE_API_KEY"),
            app_store_api_key_id=env.get("TENURE_APP_STORE_API_KEY_ID") or None,
            app_store_api_issuer_id=env.get("TENURE_APP_STORE_API_ISSUER_ID") or None,
            app_store_api_url=env.get("TENURE_APP_STORE_API_URL") or None,
            google_play_package_name=env.get("TENURE_GOOGLE_PLAY_PACKAGE_NAME") or None,
            google_play_service_account=_secret("TENURE_GOOGLE_PLAY_SERVICE_ACCOUNT"),
            google_play_api_url=env.get("TENURE_GOOGLE_PLAY_API_URL") or cls.google_play_api_url,
            google_play_push_audience=env.get("TENURE_GOOGLE_PLAY_PUSH_AUDIENCE") or None,
            google_play_push_service_account=(
                env.get("TENURE_GOOGLE_PLAY_PUSH_SERVICE_ACCOUNT") or None
            ),
            google_play_push_token=_secret("TENURE_GOOGLE_PLAY_PUSH_TOKEN"),
            google_play_jwks_url=env.get("TENURE_GOOGLE_PLAY_JWKS_URL") or cls.google_play_jwks_url,
            products_path=env.get("TENURE_STORE_PRODUCTS") or None,
            timeout=float(env.get("TENURE_STORE_TIMEOUT") or 5.0),
            missed_after_hours=float(env.get("TENURE_STORE_MISSED_AFTER_HOURS") or 6.0),
        )
