"""Subscriptions, their history, plan-change previews, and what subscribe and change add."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

import msgspec
from litestar.params import KwargDefinition

from tenure.api.resources.base import Money, Resource, at, extend, metadata_of, ts
from tenure.api.resources.households import HouseholdRef, household_ref_of
from tenure.api.resources.invoices import InvoiceLine, line_of
from tenure.billing.plan_change import ChangeQuote
from tenure.billing.records import InvoiceRecord
from tenure.dunning.cases import Case
from tenure.dunning.policy import billing_issue_reason
from tenure.flows.collect import Outcome
from tenure.households.records import HouseholdRecord
from tenure.subscriptions.items import Item
from tenure.subscriptions.models import SubscriptionHistory
from tenure.subscriptions.record import Sub, pause_of, pending_price_of
from tenure.subscriptions.state import Status

# The domain's own enum, published under a name that says what it is the status of.
SubscriptionStatus = Annotated[Status, KwargDefinition(schema_component_key="SubscriptionStatus")]


class PendingChange(Resource):
    """A plan change waiting for the period end."""

    plan: str
    effective_at: str


class Pause(Resource):
    """A web pause: scheduled from the period end, or running (no access, no invoices)."""

    status: Literal["scheduled", "active"]
    starts_at: str
    resumes_at: str  # billing starts again here, and the billing anchor moves to it


class Cancellation(Resource):
    """Why the customer canceled (kept until a reactivate)."""

    reason: str  # too_expensive | not_using | technical_issues | switching_service | other |
    # price_change_declined
    comment: str | None


class PendingPrice(Resource):
    """A price change scheduled for a later renewal (docs/retention.md#price-increases)."""

    amount: int
    currency: str
    effective_at: str  # the first renewal that bills it
    consent: str  # notice | opt_in (accept before effective_at, or it ends there) | accepted


class Subscription(Resource):
    id: str
    object: Literal["subscription"]
    customer: str
    status: SubscriptionStatus
    plan: str
    product: str
    market: str
    price: Money  # locked in when subscribed, per period
    intro_price: int | None
    intro_periods_remaining: int
    billing_anchor: str
    current_period_start: str
    current_period_end: str
    trial_start: str | None
    trial_end: str | None
    cancel_at_period_end: bool
    pending_change: PendingChange | None
    canceled_at: str | None
    ended_at: str | None
    ended_reason: str | None
    payment_method: str | None
    test_clock: str | None
    created: str
    metadata: dict[str, str]
    # web (Tenure bills it), app_store or google_play (the store bills it: billing actions
    # answer 409 managed_by_store; docs/stores.md).
    channel: str
    renews: bool  # false: a prepaid plan, it ends at current_period_end unless extended
    pause: Pause | None  # docs/retention.md
    cancellation: Cancellation | None
    pending_price: PendingPrice | None


class SubscriptionItem(Resource):
    """An add-on attached to the subscription, billed as its own line on its invoices."""

    id: str
    plan: str
    product: str
    price: Money  # locked in when added, per period
    status: str  # pending (its charge in flight) | active
    added: str


class BillingIssue(Resource):
    """Why the subscription's renewal is unpaid (it is ``past_due`` or ``on_hold``).

    ``reason``: ``authentication_required`` (the bank wants the customer to authenticate:
    bring them on-session and ``POST /v1/invoices/{invoice}/pay``) or ``payment_failed``.
    """

    reason: str
    decline_code: str | None
    invoice: str


class SubscriptionDetail(Subscription):
    """A subscription as one is read or changed: with the household it owns (Duo/Family) and
    its billing issue while in dunning, and its add-ons."""

    household: HouseholdRef | None
    billing_issue: BillingIssue | None
    items: list[SubscriptionItem]


class PaymentOutcome(Resource):
    status: str  # succeeded | declined | ...
    decline_code: str | None
    message: str | None


class NextAction(Resource):
    """What the client must do so the customer authenticates the payment (3-D Secure).

    Stripe: pass ``client_secret`` to Stripe.js ``stripe.handleNextAction``. Adyen: pass
    ``action`` to the Adyen Web / Drop-in ``handleAction``. Never stored by Tenure; ask again
    with ``POST /v1/invoices/{id}/pay``, which also completes the payment once authenticated.
    """

    provider: str
    type: str
    reference: str  # the PaymentIntent id / pspReference
    client_secret: str | None
    action: dict[str, Any] | None


class SubscriptionCreated(SubscriptionDetail):
    """The answer to subscribe: the subscription, its first invoice, and why it failed."""

    latest_invoice: str | None  # null for a trial
    last_payment_error: PaymentOutcome | None  # null on success or while unknown
    # Set when the first payment needs the customer's authentication (status incomplete).
    next_action: NextAction | None


class TrialEnded(SubscriptionDetail):
    """The answer to end_trial: the subscription, the invoice of its first paid period, and
    why its charge failed."""

    latest_invoice: str | None
    last_payment_error: PaymentOutcome | None  # null on success or while unknown


class PlanChangeSummary(Resource):
    type: str  # upgrade | downgrade | interval
    timing: str  # now | period_end
    effective_at: str


class SubscriptionChanged(SubscriptionDetail):
    """The answer to a plan change: the subscription, the invoice it made, and the change."""

    latest_invoice: str | None  # the subscription_update invoice, null if nothing was billed
    change: PlanChangeSummary


class SubscriptionList(Resource):
    object: Literal["list"]
    data: list[Subscription]
    has_more: bool
    next: str | None


class HistoryEntry(Resource):
    at: str
    from_: str | None = msgspec.field(name="from")
    to: str
    action: str
    reason: str | None
    actor: str  # api:<key id>, worker, worker:recovery, test_clock:<clock id>


class SubscriptionHistoryList(Resource):
    object: Literal["list"]
    data: list[HistoryEntry]
    has_more: bool
    next: str | None


class Period(Resource):
    start: str
    end: str


class PlanChangePreview(Resource):
    object: Literal["plan_change_preview"]
    subscription: str
    from_plan: str
    plan: str
    change_type: str
    timing: str
    effective_at: str
    currency: str
    new_period: Period | None  # set when the change starts a new period (interval changes)
    lines: list[InvoiceLine]
    subtotal: int
    tax: int
    total: int
    credit_applied: int
    credited_to_balance: int
    amount_due: int


def subscription_of(sub: Sub) -> Subscription:
    change = sub.pending_plan  # a plan change always names its plan
    paused = pause_of(sub)
    priced = pending_price_of(sub)
    return Subscription(
        id=sub.id,
        object="subscription",
        customer=sub.customer_id,
        status=sub.state,
        plan=sub.plan_id,
        product=sub.product_id,
        market=sub.market,
        price=Money(amount=sub.price_amount, currency=sub.currency),
        intro_price=sub.intro_price,
        intro_periods_remaining=sub.intro_periods_remaining,
        billing_anchor=at(sub.billing_anchor),
        current_period_start=at(sub.current_period_start),
        current_period_end=at(sub.current_period_end),
        trial_start=ts(sub.trial_start),
        trial_end=ts(sub.trial_end),
        cancel_at_period_end=sub.cancel_at_period_end,
        pending_change=None
        if change is None or change.plan_id is None
        else PendingChange(plan=change.plan_id, effective_at=at(change.effective_at)),
        canceled_at=ts(sub.canceled_at),
        ended_at=ts(sub.ended_at),
        ended_reason=sub.ended_reason,
        payment_method=sub.payment_method,
        test_clock=sub.test_clock_id,
        created=at(sub.created_at),
        metadata=metadata_of(sub),
        channel=sub.channel,
        renews=sub.renews,
        pause=None if paused is None else Pause(**paused),
        pending_price=None if priced is None else PendingPrice(**priced),
        cancellation=None
        if sub.cancel_reason is None
        else Cancellation(reason=sub.cancel_reason, comment=sub.cancel_comment),
    )


def subscription_detail_of(
    sub: Sub,
    household: HouseholdRecord | None,
    case: Case | None = None,
    items: Sequence[Item] = (),
) -> SubscriptionDetail:
    issue = None
    if case is not None:
        issue = BillingIssue(
            reason=billing_issue_reason(case.last_decline_code),
            decline_code=case.last_decline_code,
            invoice=case.invoice_id,
        )
    return extend(
        subscription_of(sub),
        SubscriptionDetail,
        household=household_ref_of(household),
        billing_issue=issue,
        items=[
            SubscriptionItem(
                id=item.id,
                plan=item.plan_id,
                product=item.product_id,
                price=Money(amount=item.price_amount, currency=item.currency),
                status=item.status.value,
                added=at(item.added_at),
            )
            for item in items
        ],
    )


def next_action_of(outcome: Outcome | None) -> NextAction | None:
    """The authentication a payment waits for (from the provider's answer; never stored)."""
    action = None if outcome is None or outcome.result is None else outcome.result.next_action
    if action is None:
        return None
    return NextAction(
        provider=action.provider,
        type=action.type,
        reference=action.reference,
        client_secret=action.client_secret,
        action=None if action.action is None else dict(action.action),
    )


def payment_outcome_of(outcome: Outcome | None) -> PaymentOutcome | None:
    """What the provider said about a charge; ``None`` while the outcome is unknown."""
    if outcome is None or outcome.result is None:
        return None
    result = outcome.result
    return PaymentOutcome(
        status=result.status.value, decline_code=result.decline_code, message=result.message
    )


def subscription_created_of(
    detail: SubscriptionDetail, invoice_id: str | None, payment: Outcome | None
) -> SubscriptionCreated:
    outcome = payment_outcome_of(payment)
    failed = outcome if outcome is not None and outcome.status != "succeeded" else None
    return extend(
        detail,
        SubscriptionCreated,
        latest_invoice=invoice_id,
        last_payment_error=failed,
        next_action=next_action_of(payment),
    )


def trial_ended_of(
    detail: SubscriptionDetail, invoice_id: str | None, payment: Outcome | None
) -> TrialEnded:
    created = subscription_created_of(detail, invoice_id, payment)
    return extend(
        detail,
        TrialEnded,
        latest_invoice=invoice_id,
        last_payment_error=created.last_payment_error,
    )


def subscription_changed_of(
    detail: SubscriptionDetail, invoice_id: str | None, quote: ChangeQuote
) -> SubscriptionChanged:
    change = PlanChangeSummary(
        type=quote.type.value, timing=quote.timing.value, effective_at=at(quote.effective_at)
    )
    return extend(detail, SubscriptionChanged, latest_invoice=invoice_id, change=change)


def history_of(rows: Sequence[SubscriptionHistory]) -> SubscriptionHistoryList:
    return SubscriptionHistoryList(
        object="list",
        data=[
            HistoryEntry(
                at=at(row.at),
                from_=row.from_status,
                to=row.to_status,
                action=row.action,
                reason=row.reason,
                actor=row.actor,
            )
            for row in rows
        ],
        has_more=False,
        next=None,
    )


def change_preview_of(
    sub: Sub, plan_id: str, quote: ChangeQuote, draft: InvoiceRecord | None, money: dict[str, int]
) -> PlanChangePreview:
    return PlanChangePreview(
        object="plan_change_preview",
        subscription=sub.id,
        from_plan=sub.plan_id,
        plan=plan_id,
        change_type=quote.type.value,
        timing=quote.timing.value,
        effective_at=at(quote.effective_at),
        currency=sub.currency,
        new_period=None
        if quote.new_period is None
        else Period(start=at(quote.new_period[0]), end=at(quote.new_period[1])),
        lines=[line_of(line) for line in draft.lines] if draft else [],
        subtotal=money["subtotal"],
        tax=money["tax"],
        total=money["total"],
        credit_applied=money["credit_applied"],
        credited_to_balance=money["credited_to_balance"],
        amount_due=money["amount_due"],
    )
