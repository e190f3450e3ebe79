"""Configuration from ``TENURE_*`` environment variables (the CLI sets the same names).

Secrets (provider keys, webhook secrets) may come from a file instead: ``NAME_FILE`` holds the
path (Docker/Kubernetes secrets). They are never logged, printed or returned: the fields below
are left out of ``repr``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from tenure.fault_settings import FaultSettings
from tenure.read_settings import ReadSettings
from tenure.store_settings import StoreSettings


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def secret(name: str) -> str | None:
    """``NAME`` from the environment, or the contents of the file named by ``NAME_FILE``."""
    value = os.environ.get(name)
    if value:
        return value.strip()
    path = os.environ.get(f"{name}_FILE")
    if path:
        text = Path(path).read_text(encoding="utf-8").strip()
        return text or None
    return None


def _list(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def _markets(value: str | None) -> dict[str, str]:
    """``SE=adyen,GB=adyen,US=stripe`` -> {"SE": "adyen", ...}."""
    mapping: dict[str, str] = {}
    for part in _list(value):
        market, _, provider = part.partition("=")
        if not provider:
            raise ValueError(f"TENURE_PAYMENT_PROVIDER_MARKETS: {part!r} is not MARKET=provider")
        mapping[market.strip().upper()] = provider.strip().lower()
    return mapping


PROVIDERS = ("sandbox", "stripe", "adyen")


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///./tenure.db"
    catalog_path: str | None = None  # None: the packaged default catalog
    api_key: str | None = field(default=None, repr=False)  # bootstrap key; generated when unset
    embedded_worker: bool = True
    worker_interval: float = 1.0  # seconds between sweeps when there is no work
    migrate: bool = True
    # Calls per second to the payment provider (charges and lookups); 0 means no limit.
    provider_rate: float = 0.0
    # One ``http.request`` log line per request (TENURE_ACCESS_LOG); probes and scrapes excluded.
    access_log: bool = True
    # The entitlement cache's bounds and the API workers' garbage-collector tuning.
    reads: ReadSettings = field(default_factory=ReadSettings)
    # Where the rate limit is shared between processes (Redis); None: PostgreSQL if the
    # database is PostgreSQL, else in-process.
    redis_url: str | None = field(default=None, repr=False)
    # Payment providers (docs/payments.md).
    payment_provider: str = "sandbox"
    provider_markets: dict[str, str] = field(default_factory=dict)
    provider_timeout: float = 5.0  # seconds per provider call (bounded to 0.05..60)
    stripe_secret_key: str | None = field(default=None, repr=False)
    stripe_api_base: str = "https://api.stripe.com"
    stripe_webhook_secrets: tuple[str, ...] = field(default=(), repr=False)
    stripe_webhook_tolerance: int = 300
    adyen_api_key: str | None = field(default=None, repr=False)
    adyen_merchant_account: str | None = None
    adyen_checkout_url: str = "https://checkout-test.adyen.com/v71"
    adyen_hmac_keys: tuple[str, ...] = field(default=(), repr=False)
    adyen_return_url: str = "https://localhost/tenure/adyen/return"
    # App Store and Google Play (docs/stores.md): TENURE_APP_STORE_*, TENURE_GOOGLE_PLAY_*.
    stores: StoreSettings = field(default_factory=StoreSettings)
    # Request limits and timeouts (issue 10; docs/operations.md).
    faults: FaultSettings = field(default_factory=FaultSettings)
    # End users' tokens for /v1/me (docs/security.md): the identity provider's JWKS, issuer,
    # audience and the claim that is the customer's external_id. Unset: /v1/me answers 401.
    jwt_jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_subject_claim: str = "sub"
    jwt_leeway: float = 30.0
    jwt_jwks_refresh: float = 30.0  # least seconds between JWKS fetches for unknown key ids
    # Request rate limits per caller and route class (api/ratelimit.py): "read=50/100,..."
    # (rate per second / burst), "off", or None for the production defaults. Shared through
    # Redis when ``redis_url`` is set. Off unless configured here; ``from_env`` turns the
    # defaults on.
    rate_limits: str | None = "off"
    # Fernet keys for secrets at rest, comma-separated, the first encrypting (db/crypto.py).
    # None: read TENURE_SECRET_KEY when first needed.
    secret_key: str | None = field(default=None, repr=False)
    # How long an Idempotency-Key's first response is replayed (the worker then prunes it).
    idempotency_ttl_hours: float = 24.0

    def __post_init__(self) -> None:
        for name in (self.payment_provider, *self.provider_markets.values()):
            if name not in PROVIDERS:
                raise ValueError(
                    f"unknown payment provider {name!r}; use one of {', '.join(PROVIDERS)}"
                )

    @property
    def providers_in_use(self) -> set[str]:
        return {self.payment_provider, *self.provider_markets.values()}

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            database_url=env.get("TENURE_DATABASE_URL") or cls.database_url,
            catalog_path=env.get("TENURE_CATALOG") or None,
            api_key=secret("TENURE_API_KEY"),
            embedded_worker=_flag("TENURE_EMBEDDED_WORKER", True),
            worker_interval=float(env.get("TENURE_WORKER_INTERVAL") or 1.0),
            migrate=_flag("TENURE_MIGRATE", True),
            provider_rate=float(env.get("TENURE_PROVIDER_RATE") or 0.0),
            redis_url=secret("TENURE_REDIS_URL"),
            payment_provider=(env.get("TENURE_PAYMENT_PROVIDER") or "sandbox").strip().lower(),
            provider_markets=_markets(env.get("TENURE_PAYMENT_PROVIDER_MARKETS")),
            provider_timeout=float(env.get("TENURE_PROVIDER_TIMEOUT") or 5.0),
            stripe_secret_key=secret("TENURE_STRIPE_SECRET_KEY"),
            stripe_api_base=env.get("TENURE_STRIPE_API_BASE") or cls.stripe_api_base,
            stripe_webhook_secrets=_list(secret("TENURE_STRIPE_WEBHOOK_SECRET")),
            stripe_webhook_tolerance=int(env.get("TENURE_STRIPE_WEBHOOK_TOLERANCE") or 300),
            adyen_api_key=secret("TENURE_ADYEN_API_KEY"),
            adyen_merchant_account=env.get("TENURE_ADYEN_MERCHANT_ACCOUNT") or None,
            adyen_checkout_url=env.get("TENURE_ADYEN_CHECKOUT_URL") or cls.adyen_checkout_url,
            adyen_hmac_keys=_list(secret("TENURE_ADYEN_HMAC_KEY")),
            adyen_return_url=env.get("TENURE_ADYEN_RETURN_URL") or cls.adyen_return_url,
            access_log=_flag("TENURE_ACCESS_LOG", True),
            reads=ReadSettings.from_env(),
            stores=StoreSettings.from_env(),
            faults=FaultSettings.from_env(),
            jwt_jwks_url=env.get("TENURE_JWT_JWKS_URL") or None,
            jwt_issuer=env.get("TENURE_JWT_ISSUER") or None,
            jwt_audience=env.get("TENURE_JWT_AUDIENCE") or None,
            jwt_subject_claim=env.get("TENURE_JWT_SUBJECT_CLAIM") or "sub",
            jwt_leeway=float(env.get("TENURE_JWT_LEEWAY") or 30.0),
            jwt_jwks_refresh=float(env.get("TENURE_JWT_JWKS_REFRESH") or 30.0),
            rate_limits=env.get("TENURE_RATE_LIMITS") or None,
            secret_key=secret("TENURE_SECRET_KEY"),
            idempotency_ttl_hours=float(env.get("TENURE_IDEMPOTENCY_TTL_HOURS") or 24.0),
        )
