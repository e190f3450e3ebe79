"""What a store says about one of its subscriptions, as typed records. Pure.

Both stores are read into the same shape (:mod:`app_store` from signed notifications and the
App Store Server API, :mod:`google_play` from the Play Developer API), and one flow applies it
(``tenure.flows.stores``): the store subscription's identity, who it belongs to, the state it
is in as of the store's signed time, and the money that moved (transactions, refunds).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from fractions import Fraction

from tenure.kernel.money import minor_units, round_half_up
from tenure.subscriptions.channels import Channel
from tenure.subscriptions.state import Status


class Happened(StrEnum):
    """What the store reported, when the target state alone does not say it (history reasons,
    and which of two legal transitions to take)."""

    SUBSCRIBED = "subscribed"
    RESUBSCRIBED = "resubscribed"
    RENEWED = "renewed"
    RECOVERED = "recovered"  # billing recovery: a new period starts at the recovery
    RENEWAL_FAILED = "renewal_failed"
    GRACE_EXPIRED = "grace_expired"
    EXPIRED = "expired"
    AUTO_RENEW_CHANGED = "auto_renew_changed"
    RENEWAL_PREF_CHANGED = "renewal_pref_changed"  # a pending plan change, or it was dropped
    UPGRADED = "upgraded"  # a plan change that applies now
    OFFER_REDEEMED = "offer_redeemed"
    PRICE_INCREASE = "price_increase"
    REFUNDED = "refunded"
    REFUND_REVERSED = "refund_reversed"
    REVOKED = "revoked"  # Family Sharing revoked, or Google revoked the subscription
    EXTENDED = "extended"  # the store moved the renewal date (RENEWAL_EXTENDED, deferred)
    PAUSED = "paused"
    PAUSE_SCHEDULED = "pause_scheduled"
    RESTARTED = "restarted"  # Google: the customer restored a canceled subscription
    PENDING = "pending"  # Google: the purchase waits for payment
    PENDING_CANCELED = "pending_canceled"
    SYNCED = "synced"  # read from the store's API (reconciliation): no single event


class PriceConsent(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"


@dataclass(frozen=True, slots=True)
class StoreMoney:
    amount: int  # minor units of ``currency``
    currency: str


@dataclass(frozen=True, slots=True)
class StoreTxn:
    """One charge by the store (an Apple transaction, a Google order)."""

    transaction_id: str
    product_id: str
    purchased_at: datetime
    expires_at: datetime | None
    price: StoreMoney | None  # None: the store did not say (or nothing was charged)
    free_trial: bool = False  # the introductory free trial: nothing charged
    family_shared: bool = False  # Apple Family Sharing: the purchaser paid, not this member
    upgrade: bool = False  # bought as an upgrade (a plan change that applies now)
    revoked_at: datetime | None = None  # refunded or revoked
    refund_share: int = 100_000  # of a refund, in milliunits of a percent (full: 100000)


@dataclass(frozen=True, slots=True)
class StoreFacts:
    channel: Channel
    store_key: str  # Apple originalTransactionId; Google: the token chain's key
    environment: str
    as_of: datetime  # the store's signed time of this state
    happened: Happened
    account_ref: str | None  # appAccountToken / obfuscatedExternalAccountId
    product_id: str  # the store product the customer has now
    # The status the store reports; None: the report does not change the status.
    status: Status | None
    period_start: datetime | None
    period_end: datetime | None
    auto_renew: bool | None = None  # False: ends at the period end; None: not reported
    grace_ends_at: datetime | None = None
    renewal_product_id: str | None = None  # the product at the next renewal
    renewal_price: StoreMoney | None = None
    price_consent: PriceConsent | None = None
    ended_reason: str | None = None  # why it ended (voluntary, billing_retry, ...)
    transactions: tuple[StoreTxn, ...] = ()  # money moved: recorded once each
    refunds: tuple[str, ...] = ()  # transaction ids the store refunded
    refund_reversals: tuple[str, ...] = ()  # transaction ids whose refund was reversed
    # The transaction this report is about (Apple's signedTransactionInfo, Google's order).
    transaction_id: str | None = None
    family_shared: bool = False
    details: dict[str, str] = field(default_factory=dict)  # history reason extras


def from_milliunits(amount: int, currency: str) -> int:
    """Apple prices are in milliunits (10990 = 10.99 USD): to the currency's minor units."""
    return round_half_up(Fraction(amount * 10 ** minor_units(currency), 1000))


def from_units_nanos(units: int, nanos: int, currency: str) -> int:
    """Google's Money (units + nanos) to the currency's minor units."""
    scale = 10 ** minor_units(currency)
    return round_half_up(units * scale + Fraction(nanos * scale, 1_000_000_000))
