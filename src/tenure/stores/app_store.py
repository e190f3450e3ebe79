"""App Store Server Notifications V2 and App Store Server API answers, verified and mapped.

Verification is Apple's own ``app-store-server-library``: :class:`SignedDataVerifier` checks
the JWS signature (ES256), the ``x5c`` chain up to the configured root certificates (Apple's
roots in production), Apple's certificate OIDs, the bundle id, the app's Apple id (in
Production) and the environment; with online checks on, the chain's OCSP status too. The
signed transaction and renewal info inside a notification are verified the same way.

What is kept is an :class:`AppleNotice`: the fields Tenure acts on, as plain values, stored in
the inbox and mapped by :func:`facts_of_notice` (the mapping table of docs/stores.md). The
same mapping reads the App Store Server API's status answers (:func:`facts_of_status`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import msgspec
from appstoreserverlibrary.models.Environment import Environment
from appstoreserverlibrary.models.JWSRenewalInfoDecodedPayload import (
    JWSRenewalInfoDecodedPayload,
)
from appstoreserverlibrary.models.JWSTransactionDecodedPayload import (
    JWSTransactionDecodedPayload,
)
from appstoreserverlibrary.signed_data_verifier import SignedDataVerifier, VerificationException

from tenure.store_settings import UNSIGNED_ENVIRONMENTS, StoreConfigError, StoreSettings
from tenure.stores.facts import (
    Happened,
    PriceConsent,
    StoreFacts,
    StoreMoney,
    StoreTxn,
    from_milliunits,
)
from tenure.subscriptions.channels import Channel
from tenure.subscriptions.state import Status

AUTO_RENEWABLE: Final = "Auto-Renewable Subscription"
FULL_REFUND: Final = 100_000  # revocationPercentage is in milliunits of a percent


class AppleTxn(msgspec.Struct, frozen=True, kw_only=True):
    transaction_id: str
    original_transaction_id: str
    product_id: str
    type: str | None = None
    purchase_date: int  # epoch milliseconds, as Apple signs them
    expires_date: int | None = None
    signed_date: int | None = None
    price: int | None = None  # milliunits
    currency: str | None = None
    app_account_token: str | None = None
    ownership: str | None = None  # PURCHASED | FAMILY_SHARED
    offer_type: int | None = None
    offer_discount_type: str | None = None
    is_upgraded: bool = False
    revocation_date: int | None = None
    revocation_type: str | None = None
    revocation_percentage: int | None = None


class AppleRenewal(msgspec.Struct, frozen=True, kw_only=True):
    auto_renew_status: int | None = None
    auto_renew_product_id: str | None = None
    product_id: str | None = None
    expiration_intent: int | None = None
    grace_period_expires_date: int | None = None
    price_increase_status: int | None = None
    renewal_price: int | None = None
    currency: str | None = None
    signed_date: int | None = None
    app_account_token: str | None = None


class AppleNotice(msgspec.Struct, frozen=True, kw_only=True):
    """A verified notification (or a status answer), reduced to what Tenure acts on."""

    notification_uuid: str
    type: str
    subtype: str | None = None
    signed_date: int
    environment: str
    status: int | None = None  # 1 active, 2 expired, 3 billing retry, 4 grace, 5 revoked
    transaction: AppleTxn | None = None
    renewal: AppleRenewal | None = None


class VerificationRefused(Exception):
    """Apple's library refused the signed data (the status says why)."""

    def __init__(self, status: str) -> None:
        super().__init__(f"App Store signed data refused: {status}")
        self.status = status


def _ms(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value / 1000, UTC)


def _environment(value: Any) -> str:
    raw = getattr(value, "value", value)
    return str(raw) if raw is not None else "unknown"


class AppStoreVerifier:
    """The configured :class:`SignedDataVerifier` and the reduction of what it decodes."""

    def __init__(self, settings: StoreSettings, *, strict_chain: bool = True) -> None:
        environment = Environment(settings.app_store_environment)
        bundle = settings.app_store_bundle_id
        if not bundle:
            raise StoreConfigError("TENURE_APP_STORE_BUNDLE_ID is not set")
        if environment.value in UNSIGNED_ENVIRONMENTS and not settings.app_store_allow_unverified:
            raise StoreConfigError(
                f"TENURE_APP_STORE_ENVIRONMENT={environment.value} data is not signed by Apple "
                "and cannot be verified; set TENURE_APP_STORE_ALLOW_UNVERIFIED=true only on a "
                "development machine"
            )
        if environment is Environment.PRODUCTION and settings.app_store_app_apple_id is None:
            raise StoreConfigError("TENURE_APP_STORE_APP_APPLE_ID is required in Production")
        roots = [Path(path).read_bytes() for path in settings.app_store_root_certificates]
        if not roots and environment.value not in UNSIGNED_ENVIRONMENTS:
            raise StoreConfigError(
                "TENURE_APP_STORE_ROOT_CERTIFICATES must name Apple's root certificates (DER "
                "files from https://www.apple.com/certificateauthority/, e.g. AppleRootCA-G3.cer)"
            )
        self.environment = environment.value
        self._verifier = SignedDataVerifier(
            roots,
            settings.online_checks,
            environment,
            bundle,
            settings.app_store_app_apple_id,
        )
        # Apple's own tests turn strict X.509 checks off for their test certificates, which
        # carry no key identifiers; production keeps them on.
        self._verifier._chain_verifier.enable_strict_checks = strict_chain

    def notice(self, signed_payload: str) -> AppleNotice:
        """Verify and reduce a notification's ``signedPayload`` (blocking: run in a thread)."""
        try:
            decoded = self._verifier.verify_and_decode_notification(signed_payload)
            data = decoded.data
            transaction = renewal = None
            if data is not None and data.signedTransactionInfo:
                transaction = self.transaction(data.signedTransactionInfo)
            if data is not None and data.signedRenewalInfo:
                renewal = self.renewal(data.signedRenewalInfo)
        except VerificationException as error:
            raise VerificationRefused(error.status.name) from None
        if not decoded.notificationUUID or decoded.signedDate is None:
            raise VerificationRefused("MISSING_NOTIFICATION_ID")
        return AppleNotice(
            notification_uuid=decoded.notificationUUID,
            type=decoded.rawNotificationType or "UNKNOWN",
            subtype=decoded.rawSubtype,
            signed_date=decoded.signedDate,
            environment=_environment(data.rawEnvironment if data else self.environment),
            status=data.rawStatus if data else None,
            transaction=transaction,
            renewal=renewal,
        )

    def transaction(self, signed: str) -> AppleTxn:
        try:
            return txn_of(self._verifier.verify_and_decode_signed_transaction(signed))
        except VerificationException as error:
            raise VerificationRefused(error.status.name) from None

    def renewal(self, signed: str) -> AppleRenewal:
        try:
            return renewal_of(self._verifier.verify_and_decode_renewal_info(signed))
        except VerificationException as error:
            raise VerificationRefused(error.status.name) from None


def txn_of(decoded: JWSTransactionDecodedPayload) -> AppleTxn:
    return AppleTxn(
        transaction_id=str(decoded.transactionId),
        original_transaction_id=str(decoded.originalTransactionId),
        product_id=str(decoded.productId),
        type=decoded.rawType,
        purchase_date=int(decoded.purchaseDate or decoded.signedDate or 0),
        expires_date=decoded.expiresDate,
        signed_date=decoded.signedDate,
        price=decoded.price,
        currency=decoded.currency,
        app_account_token=decoded.appAccountToken,
        ownership=decoded.rawInAppOwnershipType,
        offer_type=decoded.rawOfferType,
        offer_discount_type=decoded.rawOfferDiscountType,
        is_upgraded=bool(decoded.isUpgraded),
        revocation_date=decoded.revocationDate,
        revocation_type=decoded.rawRevocationType,
        revocation_percentage=decoded.revocationPercentage,
    )


def renewal_of(decoded: JWSRenewalInfoDecodedPayload) -> AppleRenewal:
    return AppleRenewal(
        auto_renew_status=decoded.rawAutoRenewStatus,
        auto_renew_product_id=decoded.autoRenewProductId,
        product_id=decoded.productId,
        expiration_intent=decoded.rawExpirationIntent,
        grace_period_expires_date=decoded.gracePeriodExpiresDate,
        price_increase_status=decoded.rawPriceIncreaseStatus,
        renewal_price=decoded.renewalPrice,
        currency=decoded.currency,
        signed_date=decoded.signedDate,
        app_account_token=decoded.appAccountToken,
    )


# --- the mapping (docs/stores.md, "App Store") ---------------------------------------------

# Types that never touch a subscription's lifecycle: stored and acknowledged, nothing else.
IGNORED_TYPES: Final = frozenset(
    {
        "TEST",
        "CONSUMPTION_REQUEST",
        "REFUND_DECLINED",
        "RENEWAL_EXTENSION",  # the summary of a mass extension; each one is RENEWAL_EXTENDED
        "EXTERNAL_PURCHASE_TOKEN",
        "ONE_TIME_CHARGE",
        "RESCIND_CONSENT",
        "METADATA_UPDATE",
        "MIGRATION",
        "PRICE_CHANGE",
    }
)
EXPIRED_REASONS: Final = {
    "VOLUNTARY": "canceled",
    "BILLING_RETRY": "billing_retry",
    "PRICE_INCREASE": "price_increase_declined",
    "PRODUCT_NOT_FOR_SALE": "product_not_for_sale",
}
# expirationIntent in renewal info (status answers): 1 canceled, 2 billing error, ...
EXPIRATION_INTENTS: Final = {
    1: "canceled",
    2: "billing_retry",
    3: "price_increase_declined",
    4: "product_not_for_sale",
}
STATUS_CODES: Final = {1: Status.ACTIVE, 2: Status.EXPIRED, 3: Status.ON_HOLD, 4: Status.PAST_DUE}


def txn_facts(txn: AppleTxn) -> StoreTxn:
    price = None
    if txn.price is not None and txn.currency:
        price = StoreMoney(from_milliunits(txn.price, txn.currency), txn.currency)
    return StoreTxn(
        transaction_id=txn.transaction_id,
        product_id=txn.product_id,
        purchased_at=_ms(txn.purchase_date) or datetime.fromtimestamp(0, UTC),
        expires_at=_ms(txn.expires_date),
        price=price,
        free_trial=_free_trial(txn),
        family_shared=txn.ownership == "FAMILY_SHARED",
        revoked_at=_ms(txn.revocation_date),
        refund_share=refund_share(txn),
    )


def refund_share(txn: AppleTxn) -> int:
    """How much of the transaction was refunded, in milliunits of a percent (full: 100000)."""
    if txn.revocation_type == "REFUND_PRORATED" and txn.revocation_percentage is not None:
        return max(0, min(txn.revocation_percentage, FULL_REFUND))
    return FULL_REFUND


def _free_trial(txn: AppleTxn) -> bool:
    return txn.offer_type == 1 and txn.offer_discount_type == "FREE_TRIAL"


def _base(notice: AppleNotice, txn: AppleTxn, happened: Happened) -> dict[str, Any]:
    renewal = notice.renewal or AppleRenewal()
    renewal_price = None
    if renewal.renewal_price is not None and renewal.currency:
        renewal_price = StoreMoney(
            from_milliunits(renewal.renewal_price, renewal.currency), renewal.currency
        )
    return {
        "channel": Channel.APP_STORE,
        "store_key": txn.original_transaction_id,
        "environment": notice.environment,
        "as_of": _ms(notice.signed_date),
        "happened": happened,
        "account_ref": txn.app_account_token or renewal.app_account_token,
        "product_id": txn.product_id,
        "status": None,
        "period_start": _ms(txn.purchase_date),
        "period_end": _ms(txn.expires_date),
        "auto_renew": None if renewal.auto_renew_status is None else renewal.auto_renew_status == 1,
        "renewal_product_id": renewal.auto_renew_product_id,
        "renewal_price": renewal_price,
        "transactions": (txn_facts(txn),),
        "transaction_id": txn.transaction_id,
        "family_shared": txn.ownership == "FAMILY_SHARED",
        "details": {"notification": notice.type + (f"/{notice.subtype}" if notice.subtype else "")},
    }


def _covers(txn: AppleTxn, at_ms: int) -> bool:
    return txn.expires_date is None or txn.expires_date > at_ms


def _facts(notice: AppleNotice, txn: AppleTxn, happened: Happened, **values: Any) -> StoreFacts:
    return StoreFacts(**{**_base(notice, txn, happened), **values})


def _subscribed(notice: AppleNotice, txn: AppleTxn) -> StoreFacts:
    happened = Happened.RESUBSCRIBED if notice.subtype == "RESUBSCRIBE" else Happened.SUBSCRIBED
    return _facts(
        notice, txn, happened, status=Status.TRIALING if _free_trial(txn) else Status.ACTIVE
    )


def _renewed(notice: AppleNotice, txn: AppleTxn) -> StoreFacts:
    recovered = notice.subtype == "BILLING_RECOVERY"
    happened = Happened.RECOVERED if recovered else Happened.RENEWED
    return _facts(notice, txn, happened, status=Status.ACTIVE)


def _failed(notice: AppleNotice, txn: AppleTxn) -> StoreFacts:
    if notice.subtype == "GRACE_PERIOD":
        grace = _ms((notice.renewal or AppleRenewal()).grace_period_expires_date)
        return _facts(
            notice, txn, Happened.RENEWAL_FAILED, status=Status.PAST_DUE, grace_ends_at=grace
        )
    return _facts(notice, txn, Happened.RENEWAL_FAILED, status=Status.ON_HOLD)


def _grace_expired(notice: AppleNotice, txn: AppleTxn) -> StoreFacts:
    return _facts(notice, txn, Happened.GRACE_EXPIRED, status=Status.ON_HOLD)


def _expired(notice: AppleNotice, txn: AppleTxn) -> StoreFacts:
    reason = EXPIRED_REASONS.get(notice.subtype or "", "expired")
    return _facts(notice, txn, Happened.EXPIRED, status=Status.EXPIRED, ended_reason=reason)


def _renewal_status(notice: AppleNotice, txn: AppleTxn) -> StoreFacts:
    values: dict[str, Any] = {}
    if notice.subtype in ("AUTO_RENEW_DISABLED", "AUTO_RENEW_ENABLED"):
        values["auto_renew"] = notice.subtype == "AUTO_RENEW_ENABLED"
    return _facts(notice, txn, Happened.AUTO_RENEW_CHANGED, **values)


def _renewal_pref(notice: AppleNotice, txn: AppleTxn) -> StoreFacts:
    if notice.subtype == "UPGRADE":
        # The new product's transaction (Apple marks the replaced one ``isUpgraded``).
        bought = replace(txn_facts(txn), upgrade=True)
        return _facts(notice, txn, Happened.UPGRADED, transactions=(bought,))
    offer = notice.type == "OFFER_REDEEMED" and notice.subtype != "DOWNGRADE"
    return _facts(notice, txn, Happened.OFFER_REDEEMED if offer else Happened.RENEWAL_PREF_CHANGED)


def _price_increase(notice: AppleNotice, txn: AppleTxn) -> StoreFacts:
    consent = PriceConsent.ACCEPTED if notice.subtype == "ACCEPTED" else PriceConsent.PENDING
    return _facts(notice, txn, Happened.PRICE_INCREASE, price_consent=consent)


def _refund(notice: AppleNotice, txn: AppleTxn) -> StoreFacts:
    values: dict[str, Any] = {"refunds": (txn.transaction_id,)}
    if notice.status == 5 or _covers(txn, notice.signed_date):
        values.update(status=Status.CANCELED, ended_reason="refunded")
    return _facts(notice, txn, Happened.REFUNDED, **values)


def _refund_reversed(notice: AppleNotice, txn: AppleTxn) -> StoreFacts:
    values: dict[str, Any] = {"refund_reversals": (txn.transaction_id,)}
    if _covers(txn, notice.signed_date):
        values["status"] = Status.ACTIVE
    return _facts(notice, txn, Happened.REFUND_REVERSED, **values)


def _revoke(notice: AppleNotice, txn: AppleTxn) -> StoreFacts:
    return _facts(
        notice,
        txn,
        Happened.REVOKED,
        status=Status.CANCELED,
        ended_reason="family_sharing_revoked",
    )


def _extended(notice: AppleNotice, txn: AppleTxn) -> StoreFacts:
    return _facts(notice, txn, Happened.EXTENDED)


MAPPING: Final = {
    "SUBSCRIBED": _subscribed,
    "DID_RENEW": _renewed,
    "DID_FAIL_TO_RENEW": _failed,
    "GRACE_PERIOD_EXPIRED": _grace_expired,
    "EXPIRED": _expired,
    "DID_CHANGE_RENEWAL_STATUS": _renewal_status,
    "DID_CHANGE_RENEWAL_PREF": _renewal_pref,
    "OFFER_REDEEMED": _renewal_pref,
    "PRICE_INCREASE": _price_increase,
    "REFUND": _refund,
    "REFUND_REVERSED": _refund_reversed,
    "REVOKE": _revoke,
    "RENEWAL_EXTENDED": _extended,
}


def facts_of_notice(notice: AppleNotice) -> StoreFacts | str:
    """The facts of a notification, or why it changes no subscription (stored as ignored)."""
    if notice.type in IGNORED_TYPES:
        return f"{notice.type} does not change a subscription"
    mapped = MAPPING.get(notice.type)
    if mapped is None:
        return f"{notice.type} is not a notification type Tenure knows; stored as it came"
    txn = notice.transaction
    if txn is None:
        return f"{notice.type} carries no transaction"
    if txn.type is not None and txn.type != AUTO_RENEWABLE:
        return f"{txn.type} is not an auto-renewable subscription"
    return mapped(notice, txn)


def facts_of_status(
    status: int, txn: AppleTxn, renewal: AppleRenewal | None, *, environment: str
) -> StoreFacts:
    """The facts of an App Store Server API status answer (reconciliation)."""
    signed = [d for d in (txn.signed_date, renewal.signed_date if renewal else None) if d]
    notice = AppleNotice(
        notification_uuid="",
        type="STATUS",
        signed_date=max(signed) if signed else txn.purchase_date,
        environment=environment,
        status=status,
        transaction=txn,
        renewal=renewal,
    )
    values = _base(notice, txn, Happened.SYNCED)
    values["details"] = {"status": str(status)}
    if status == 1:
        values["status"] = Status.TRIALING if _free_trial(txn) else Status.ACTIVE
    elif status == 5:
        values["status"] = Status.CANCELED
        values["ended_reason"] = (
            "family_sharing_revoked" if txn.revocation_type == "FAMILY_REVOKE" else "refunded"
        )
        if txn.revocation_date is not None and txn.revocation_type != "FAMILY_REVOKE":
            values["refunds"] = (txn.transaction_id,)
    else:
        values["status"] = STATUS_CODES.get(status, Status.EXPIRED)
        if status == 4 and renewal is not None:
            values["grace_ends_at"] = _ms(renewal.grace_period_expires_date)
        if status == 2:
            intent = renewal.expiration_intent if renewal else None
            values["ended_reason"] = EXPIRATION_INTENTS.get(intent or 0, "expired")
    return StoreFacts(**values)
