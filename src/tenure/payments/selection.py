"""The payment provider a process uses, chosen by configuration (docs/payments.md)."""

from __future__ import annotations

from tenure.db.engine import Database
from tenure.payments.ports import PaymentProvider
from tenure.payments.providers.adyen_adapter import AdyenConfig, AdyenProvider
from tenure.payments.providers.stripe_adapter import StripeConfig, StripeProvider
from tenure.payments.ratelimit import limited
from tenure.payments.router import ProviderRouter
from tenure.payments.sandbox import SandboxProvider
from tenure.settings import Settings


class ProviderConfigError(ValueError):
    """A provider is selected but its settings are missing (names the variable, never a value)."""


def _one(name: str, database: Database, settings: Settings) -> PaymentProvider:
    if name == "sandbox":
        return SandboxProvider(database)
    if name == "stripe":
        if not settings.stripe_secret_key:
            raise ProviderConfigError(
                "TENURE_PAYMENT_PROVIDER uses stripe but TENURE_STRIPE_SECRET_KEY "
                "(or TENURE_STRIPE_SECRET_KEY_FILE) is not set"
            )
        return StripeProvider(
            database,
            StripeConfig(
                settings.stripe_secret_key,
                api_base=settings.stripe_api_base,
                timeout=settings.provider_timeout,
            ),
        )
    if not settings.adyen_api_key or not settings.adyen_merchant_account:
        raise ProviderConfigError(
            "TENURE_PAYMENT_PROVIDER uses adyen but TENURE_ADYEN_API_KEY (or _FILE) or "
            "TENURE_ADYEN_MERCHANT_ACCOUNT is not set"
        )
    return AdyenProvider(
        database,
        AdyenConfig(
            settings.adyen_api_key,
            settings.adyen_merchant_account,
            checkout_url=settings.adyen_checkout_url,
            timeout=settings.provider_timeout,
            return_url=settings.adyen_return_url,
        ),
    )


def build_provider(database: Database, settings: Settings) -> PaymentProvider:
    names = settings.providers_in_use
    provider: PaymentProvider
    if names == {"sandbox"}:
        provider = SandboxProvider(database)
    else:
        provider = ProviderRouter(
            database,
            {name: _one(name, database, settings) for name in sorted(names)},
            default=settings.payment_provider,
            markets=settings.provider_markets,
        )
    return limited(
        provider, settings.provider_rate, database=database, redis_url=settings.redis_url
    )
