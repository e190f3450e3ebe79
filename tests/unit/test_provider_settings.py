"""Provider selection by configuration: names, per-market mapping, secrets from files, and
secrets that never show up in a repr or an error message."""

from __future__ import annotations

from pathlib import Path

import pytest

from tenure.db.engine import Database
from tenure.payments.router import ProviderRouter
from tenure.payments.sandbox import SandboxProvider
from tenure.payments.selection import ProviderConfigError, build_provider
from tenure.settings import Settings

SECRET = "sk_test_do_not_print_me"


def test_the_sandbox_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TENURE_PAYMENT_PROVIDER", "TENURE_PAYMENT_PROVIDER_MARKETS"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings.from_env()
    assert settings.payment_provider == "sandbox" and settings.provider_markets == {}
    assert isinstance(build_provider(Database("sqlite:///:memory:"), settings), SandboxProvider)


def test_configuration_names_and_secret_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key_file = tmp_path / "stripe"
    key_file.write_text(SECRET + "\n")
    monkeypatch.setenv("TENURE_PAYMENT_PROVIDER", "stripe")
    monkeypatch.setenv("TENURE_PAYMENT_PROVIDER_MARKETS", "se=adyen, GB=adyen,US=stripe")
    monkeypatch.delenv("TENURE_STRIPE_SECRET_KEY", raising=False)
    monkeypatch.setenv("TENURE_STRIPE_SECRET_KEY_FILE", str(key_file))
    monkeypatch.setenv("TENURE_STRIPE_API_BASE", "http://127.0.0.1:12111")
    monkeypatch.setenv("TENURE_STRIPE_WEBHOOK_SECRET", "whsec_new,whsec_old")
    monkeypatch.setenv("TENURE_ADYEN_API_KEY", "adyen_secret_value")
    monkeypatch.setenv("TENURE_ADYEN_MERCHANT_ACCOUNT", "TenureECOM")
    monkeypatch.setenv("TENURE_ADYEN_CHECKOUT_URL", "http://127.0.0.1:12112/v71")
    monkeypatch.setenv("TENURE_ADYEN_HMAC_KEY", "AA" * 32)
    settings = Settings.from_env()
    assert settings.stripe_secret_key == SECRET
    assert settings.provider_markets == {"SE": "adyen", "GB": "adyen", "US": "stripe"}
    assert settings.stripe_webhook_secrets == ("whsec_new", "whsec_old")
    assert settings.stripe_api_base == "http://127.0.0.1:12111"
    text = repr(settings)
    for value in (SECRET, "whsec_new", "adyen_secret_value", "AA" * 32):
        assert value not in text
    provider = build_provider(Database("sqlite:///:memory:"), settings)
    assert isinstance(provider, ProviderRouter)
    assert set(provider.providers) == {"stripe", "adyen"} and provider.default == "stripe"
    assert SECRET not in repr(provider.providers["stripe"].__dict__)


def test_unknown_providers_and_missing_credentials_name_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ValueError, match="unknown payment provider"):
        Settings(payment_provider="paypal")
    with pytest.raises(ValueError, match="MARKET=provider"):
        monkeypatch.setenv("TENURE_PAYMENT_PROVIDER_MARKETS", "SE")
        Settings.from_env()
    with pytest.raises(ProviderConfigError, match="TENURE_STRIPE_SECRET_KEY"):
        build_provider(Database("sqlite:///:memory:"), Settings(payment_provider="stripe"))
    with pytest.raises(ProviderConfigError, match="TENURE_ADYEN_API_KEY"):
        build_provider(
            Database("sqlite:///:memory:"),
            Settings(payment_provider="sandbox", provider_markets={"SE": "adyen"}),
        )


@pytest.mark.parametrize(
    ("text", "card"),
    [
        ('{"payment_method": "8415000000000001"}', False),  # Adyen storedPaymentMethodId
        ('{"payment_method": "4111111111111111"}', True),
        ('{"payment_method": "8415 0000 0000 0001"}', True),  # grouped like a card: refused
        ('{"payment_method": "84150000000000011"}', True),
        ('{"payment_method": "5555555555554444", "x": "8415000000000001"}', True),
    ],
)
def test_adyen_tokens_pass_the_card_number_guard_and_card_numbers_do_not(
    text: str, card: bool
) -> None:
    from tenure.payments.methods import looks_like_card_number

    assert looks_like_card_number(text) is card
