"""Webhook signatures: the worked examples of payments.md, staleness, wrong and rotated secrets."""

from __future__ import annotations

import json

import pytest
import stripe

from tenure.payments.signatures import (
    SignatureError,
    adyen_hmac,
    adyen_signing_string,
    stripe_header,
    verify_adyen_item,
    verify_stripe,
)

# payments.md 1.6, worked example [checked]
SECRET = "whsec_reference_example_0123456789"
T = 1700000000
BODY = b'{"id":"evt_ref_1","object":"event","type":"payment_intent.succeeded"}'
V1 = "2ecd2bcf8bda4e29738de44fc5adf6ea824accd3567823c150672b0df9d0b787"

# payments.md 2.6, worked example [checked]
ADYEN_KEY = "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF"
ADYEN_ITEM = {
    "eventCode": "AUTHORISATION",
    "success": "true",
    "pspReference": "8816118280275544",
    "originalReference": "",
    "merchantAccountCode": "ExampleMerchantECOM",
    "merchantReference": "renewal-2025-07-0001",
    "amount": {"value": 1999, "currency": "EUR"},
    "eventDate": "2025-07-01T10:00:00+02:00",
    "additionalData": {"hmacSignature": "WY0BHFkqF1NAvat4yNWWSDvamRrOihWdh8qam9XWwHc="},
}


def test_the_stripe_worked_example() -> None:
    assert stripe_header(BODY, [SECRET], T) == f"t={T},v1={V1}"
    assert verify_stripe(BODY, f"t={T},v1={V1}", [SECRET], now=T + 10) == T


def test_our_stripe_header_is_the_one_the_official_library_makes_and_accepts() -> None:
    header = stripe_header(BODY, [SECRET], T)
    made = stripe.WebhookSignature.generate_signature_header(  # type: ignore[attr-defined]
        BODY.decode(), SECRET, timestamp=T
    )
    assert header == made
    assert stripe.WebhookSignature.verify_header(BODY.decode(), header, SECRET, tolerance=None)


def test_a_stale_or_far_future_stripe_timestamp_is_refused() -> None:
    header = f"t={T},v1={V1}"
    with pytest.raises(SignatureError) as stale:
        verify_stripe(BODY, header, [SECRET], now=T + 301)
    assert stale.value.code == "stale_signature"
    with pytest.raises(SignatureError):
        verify_stripe(BODY, header, [SECRET], now=T - 301)
    assert verify_stripe(BODY, header, [SECRET], now=T + 299) == T


def test_a_wrong_secret_a_changed_body_or_no_v1_is_refused() -> None:
    header = f"t={T},v1={V1}"
    for secrets, body, sig in (
        (["whsec_other"], BODY, header),
        ([SECRET], BODY + b" ", header),
        ([SECRET], BODY, f"t={T},v0={V1}"),
        ([SECRET], BODY, f"t={T + 1},v1={V1}"),
        ([SECRET], BODY, None),
    ):
        with pytest.raises(SignatureError):
            verify_stripe(body, sig, secrets, now=T)
    with pytest.raises(SignatureError) as none:
        verify_stripe(BODY, header, [], now=T)
    assert none.value.code == "not_configured"


def test_rotation_either_side_several_v1_or_several_secrets() -> None:
    # Stripe rolls the secret: one v1 per active secret, the new one first.
    rolled = stripe_header(BODY, ["whsec_new", SECRET], T)
    assert rolled.count("v1=") == 2
    assert verify_stripe(BODY, rolled, [SECRET], now=T) == T
    # Tenure is configured with both while it changes over.
    assert verify_stripe(BODY, f"t={T},v1={V1}", ["whsec_new", SECRET], now=T) == T


def test_the_adyen_worked_example() -> None:
    assert adyen_signing_string(ADYEN_ITEM) == (
        "8816118280275544::ExampleMerchantECOM:renewal-2025-07-0001:1999:EUR:AUTHORISATION:true"
    )
    assert adyen_hmac(ADYEN_ITEM, ADYEN_KEY) == ADYEN_ITEM["additionalData"]["hmacSignature"]
    verify_adyen_item(ADYEN_ITEM, [ADYEN_KEY])
    verify_adyen_item(json.loads(json.dumps(ADYEN_ITEM)), ["AA" * 32, ADYEN_KEY])  # rotation


def test_adyen_items_with_a_changed_field_or_wrong_key_are_refused() -> None:
    for changed in (
        {"success": "false"},
        {"amount": {"value": 1998, "currency": "EUR"}},
        {"additionalData": {}},
    ):
        with pytest.raises(SignatureError):
            verify_adyen_item({**ADYEN_ITEM, **changed}, [ADYEN_KEY])
    with pytest.raises(SignatureError):
        verify_adyen_item(ADYEN_ITEM, ["FF" * 32])
    # A Python bool would print "True": the signing string keeps Adyen's "true".
    assert adyen_signing_string({**ADYEN_ITEM, "success": True}).endswith(":true")
