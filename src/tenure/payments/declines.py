"""Provider decline codes mapped to Tenure's decline classes (one table, docs/payments.md).

Policy (issue 11): declines the card networks allow to be retried are **soft** and follow the
retry ladder (``insufficient_funds``, ``do_not_honor``, ``generic_decline``, Adyen "Not enough
balance", ...); lost, stolen, expired, invalid, fraud and revoked are **hard**; an
authentication the customer must complete is **action_required** (off-session it is handled
like a hard decline until the customer comes back on-session). The issuer's own advice, when
present (Stripe ``advice_code``, Mastercard merchant advice codes), overrides the code's
default. A code not in the tables is hard, and the raw code is kept with the attempt.

Sources: /work/shared/reference/payments.md sections 1.4, 2.3, 2.4 and 3.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from tenure.payments.ports import DeclineClass

SOFT, HARD, ACTION = DeclineClass.SOFT, DeclineClass.HARD, DeclineClass.ACTION_REQUIRED

# --- Stripe: ``decline_code``, falling back to ``error.code`` --------------------------------
STRIPE_DECLINES: Final[Mapping[str, DeclineClass]] = {
    "authentication_required": ACTION,
    # The network lets these be retried: temporary issuer state or limits.
    "approve_with_id": SOFT,
    "issuer_not_available": SOFT,
    "processing_error": SOFT,
    "reenter_transaction": SOFT,
    "try_again_later": SOFT,
    "insufficient_funds": SOFT,
    "card_velocity_exceeded": SOFT,
    "withdrawal_count_limit_exceeded": SOFT,
    "do_not_honor": SOFT,
    "generic_decline": SOFT,
    "card_declined": SOFT,  # ``error.code`` when no ``decline_code`` is given
    # Lost, stolen, expired, invalid, fraud, revoked: never retry this card.
    "expired_card": HARD,
    "lost_card": HARD,
    "stolen_card": HARD,
    "pickup_card": HARD,
    "restricted_card": HARD,
    "fraudulent": HARD,
    "merchant_blacklist": HARD,
    "invalid_account": HARD,
    "card_not_supported": HARD,
    "currency_not_supported": HARD,
    "incorrect_number": HARD,
    "invalid_number": HARD,
    "incorrect_cvc": HARD,
    "invalid_cvc": HARD,
    "incorrect_zip": HARD,
    "invalid_expiry_month": HARD,
    "invalid_expiry_year": HARD,
    "invalid_amount": HARD,
    "new_account_information_available": HARD,
    "revocation_of_all_authorizations": HARD,
    "revocation_of_authorization": HARD,
    "stop_payment_order": HARD,
    "security_violation": HARD,
    "service_not_allowed": HARD,
    "transaction_not_allowed": HARD,
    "not_permitted": HARD,
    "no_action_taken": HARD,
    "call_issuer": HARD,
    "do_not_try_again": HARD,
    "testmode_decline": HARD,
    "duplicate_transaction": HARD,  # reconcile by hand; never retry blindly
}
STRIPE_ADVICE: Final[Mapping[str, DeclineClass]] = {
    "do_not_try_again": HARD,
    "confirm_card_data": HARD,
    "try_again_later": SOFT,
}


# Lost, stolen, expired, invalid, fraud, revoked: hard whatever the advice says.
STRIPE_NEVER_RETRY: Final = frozenset(
    {
        "expired_card", "lost_card", "stolen_card", "pickup_card", "fraudulent",
        "merchant_blacklist", "invalid_account", "incorrect_number", "invalid_number",
        "invalid_expiry_month", "invalid_expiry_year", "revocation_of_all_authorizations",
        "revocation_of_authorization", "stop_payment_order",
    }
)  # fmt: skip


def classify_stripe(
    code: str | None, decline_code: str | None, advice_code: str | None = None
) -> DeclineClass:
    key = decline_code or code or ""
    if "authentication_required" in (code, decline_code):
        return ACTION
    if key in STRIPE_NEVER_RETRY:
        return HARD
    if advice_code is not None and advice_code in STRIPE_ADVICE:
        return STRIPE_ADVICE[advice_code]
    return STRIPE_DECLINES.get(key, HARD)


# --- Adyen: ``refusalReasonCode`` (with ``resultCode`` and merchant advice codes) -------------
ADYEN_REFUSALS: Final[Mapping[str, tuple[str, DeclineClass]]] = {
    # code: (Tenure's decline_code, class)
    "2": ("refused", SOFT),  # generic: the policy treats it like generic_decline
    "3": ("referral", HARD),
    "5": ("blocked_card", HARD),
    "6": ("expired_card", HARD),
    "7": ("invalid_amount", HARD),
    "8": ("invalid_card_number", HARD),
    "9": ("issuer_unavailable", SOFT),
    "10": ("not_supported", HARD),
    "11": ("authentication_required", ACTION),
    "12": ("insufficient_funds", SOFT),  # "Not enough balance"
    "14": ("acquirer_fraud", HARD),
    "15": ("cancelled", HARD),
    "20": ("fraud", HARD),
    "22": ("fraud_cancelled", HARD),
    "23": ("transaction_not_permitted", HARD),
    "24": ("cvc_declined", HARD),
    "25": ("restricted_card", HARD),
    "26": ("revocation_of_authorization", HARD),
    "27": ("declined_non_generic", HARD),
    "28": ("withdrawal_amount_exceeded", SOFT),
    "29": ("withdrawal_count_exceeded", SOFT),
    "31": ("issuer_suspected_fraud", HARD),
    "32": ("avs_declined", HARD),
    "38": ("authentication_required", ACTION),
    "39": ("authentication_not_received", SOFT),
    "42": ("authentication_error", SOFT),
    "46": ("blocked_to_prevent_retry_fees", HARD),
}
# Refusal codes that are no decision from the issuer: the outcome is a provider error.
ADYEN_PROVIDER_ERRORS: Final = frozenset({"4", "21"})
# Mastercard merchant advice codes (``additionalData.merchantAdviceCode``, e.g. "03: ...").
ADYEN_ADVICE: Final[Mapping[str, DeclineClass]] = {
    "01": HARD,  # new account information available
    "02": SOFT,
    "03": HARD,
    "21": HARD,  # recurring payment cancelled by the cardholder
    **{str(code): SOFT for code in range(24, 31)},
}


def classify_adyen(
    refusal_code: str | None,
    *,
    merchant_advice: str | None = None,
    inferred_reason: str | None = None,
) -> tuple[str, DeclineClass]:
    """(Tenure's decline code, class) for a ``Refused`` Adyen payment."""
    decline_code, klass = ADYEN_REFUSALS.get(refusal_code or "", (f"adyen_{refusal_code}", HARD))
    if inferred_reason and "3d secure" in inferred_reason.lower():
        return "authentication_required", ACTION
    advice = (merchant_advice or "").strip()[:2]
    # The issuer's advice may stop retries of a soft refusal, or allow them for the generic
    # "Refused"; it never revives a blocked, expired, invalid, fraud or revoked card.
    if advice in ADYEN_ADVICE and (klass is SOFT or refusal_code == "2"):
        klass = ADYEN_ADVICE[advice]
    return decline_code, klass


def retryable(klass: DeclineClass) -> bool:
    return klass is DeclineClass.SOFT
