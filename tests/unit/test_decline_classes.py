"""The decline-class table (docs/payments.md): every class, advice overrides, unknown codes."""

from __future__ import annotations

import pytest

from tenure.payments.declines import classify_adyen, classify_stripe, retryable
from tenure.payments.ports import DeclineClass

SOFT, HARD, ACTION = DeclineClass.SOFT, DeclineClass.HARD, DeclineClass.ACTION_REQUIRED


@pytest.mark.parametrize(
    ("decline_code", "expected"),
    [
        ("insufficient_funds", SOFT),
        ("do_not_honor", SOFT),
        ("generic_decline", SOFT),
        ("processing_error", SOFT),
        ("issuer_not_available", SOFT),
        ("try_again_later", SOFT),
        ("card_velocity_exceeded", SOFT),
        ("lost_card", HARD),
        ("stolen_card", HARD),
        ("expired_card", HARD),
        ("invalid_account", HARD),
        ("incorrect_number", HARD),
        ("fraudulent", HARD),
        ("revocation_of_authorization", HARD),
        ("revocation_of_all_authorizations", HARD),
        ("authentication_required", ACTION),
        ("a_code_stripe_adds_next_year", HARD),
    ],
)
def test_stripe_decline_codes(decline_code: str, expected: DeclineClass) -> None:
    assert classify_stripe("card_declined", decline_code) is expected
    assert retryable(expected) is (expected is SOFT)


def test_stripe_advice_codes_override_and_code_is_the_fallback() -> None:
    assert classify_stripe("card_declined", "generic_decline", "do_not_try_again") is HARD
    assert classify_stripe("card_declined", "do_not_honor", "confirm_card_data") is HARD
    assert classify_stripe("card_declined", "call_issuer", "try_again_later") is SOFT
    assert classify_stripe("card_declined", "lost_card", "try_again_later") is HARD
    assert classify_stripe("authentication_required", None) is ACTION
    assert classify_stripe("expired_card", None) is HARD
    assert classify_stripe("card_declined", None) is SOFT


@pytest.mark.parametrize(
    ("refusal", "expected"),
    [
        ("2", ("refused", SOFT)),
        ("12", ("insufficient_funds", SOFT)),
        ("9", ("issuer_unavailable", SOFT)),
        ("28", ("withdrawal_amount_exceeded", SOFT)),
        ("5", ("blocked_card", HARD)),
        ("6", ("expired_card", HARD)),
        ("8", ("invalid_card_number", HARD)),
        ("14", ("acquirer_fraud", HARD)),
        ("20", ("fraud", HARD)),
        ("26", ("revocation_of_authorization", HARD)),
        ("46", ("blocked_to_prevent_retry_fees", HARD)),
        ("11", ("authentication_required", ACTION)),
        ("38", ("authentication_required", ACTION)),
        ("99", ("adyen_99", HARD)),
    ],
)
def test_adyen_refusal_codes(refusal: str, expected: tuple[str, DeclineClass]) -> None:
    assert classify_adyen(refusal) == expected


def test_adyen_merchant_advice_and_inferred_reasons() -> None:
    assert classify_adyen("2", merchant_advice="03: Do not try again") == ("refused", HARD)
    assert classify_adyen("2", merchant_advice="21") == ("refused", HARD)
    assert classify_adyen("2", merchant_advice="02: Retry later")[1] is SOFT
    assert classify_adyen("5", merchant_advice="02: Retry later")[1] is HARD
    assert classify_adyen("12", merchant_advice="01: New account information")[1] is HARD
    assert classify_adyen("10", inferred_reason="3D Secure Mandated") == (
        "authentication_required",
        ACTION,
    )
