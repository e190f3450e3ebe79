"""The shape of a new subscription: when it begins, its trial, its billing anchor, its price
version and its first invoice (pure: nothing here reads or writes)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from tenure.billing.invoicing import build_invoice
from tenure.billing.promotions import ActiveDiscount
from tenure.billing.records import BillingReason, InvoiceRecord
from tenure.catalog.model import Plan
from tenure.customers.models import Customer
from tenure.flows.lines import first_period_lines, offer_line, period_lines
from tenure.flows.runtime import Runtime
from tenure.kernel.calendar import add_interval
from tenure.kernel.clock import rfc3339
from tenure.kernel.errors import InvalidRequest
from tenure.kernel.ids import new_id
from tenure.subscriptions import record as subs
from tenure.subscriptions.anchors import (
    Anchored,
    FirstPeriod,
    anchored,
    check_timestamp_anchor,
    day_anchor,
)
from tenure.subscriptions.schedule import INCOMPLETE_WINDOW
from tenure.subscriptions.state import Status


def shape(
    runtime: Runtime,
    customer: Customer,
    plan: Plan,
    payment_method: str | None,
    *,
    now: datetime,
    trial: bool,
    trial_end: datetime | None,
    billing_anchor: datetime | int | None,
    start_at: datetime | None,
) -> tuple[subs.Sub, Anchored | None]:
    """The new subscription's periods: when it begins (now or ``start_at``), its trial end,
    its billing anchor, and the price version in effect now."""
    market = runtime.catalog.market(customer.market)
    begins = now if start_at is None else check_start_at(start_at, now)
    if trial_end is not None:
        check_trial_end(trial_end, begins)
    anchoring = anchoring_of(customer, plan, begins, billing_anchor, trial=trial)
    # The catalog price version in effect now (docs/retention.md#price-increases).
    amount, version = runtime.catalog.pricing.price_at(plan.id, plan.prices, market.code, now)
    currency = plan.price_in(market).currency
    sub = new_sub(customer, plan, amount, currency, payment_method, trial, begins, trial_end)
    sub.price_version = version
    sub.renews = plan.renews
    if anchoring is not None:
        sub.billing_anchor, sub.current_period_end = anchoring.anchor, anchoring.end
    if start_at is not None:
        schedule(sub, now)
    sub.reschedule(now)
    return sub, anchoring


MAX_TRIAL: Final = timedelta(days=730)
MAX_START: Final = timedelta(days=365)


def check_start_at(start_at: datetime, now: datetime) -> datetime:
    if not now < start_at <= now + MAX_START:
        raise InvalidRequest(
            f"start_at must be after now ({rfc3339(now)}) and at most {MAX_START.days} days later",
            code="invalid_start_at",
        )
    return start_at


def schedule(sub: subs.Sub, now: datetime) -> None:
    """A subscription that starts later: ``scheduled``, its (empty) period ending at the start,
    which is when the worker starts it; nothing is billed or granted until then."""
    sub.status = Status.SCHEDULED.value
    sub.current_period_end = sub.current_period_start
    sub.incomplete_expires_at = None
    sub.created_at = sub.updated_at = now


def check_trial_end(trial_end: datetime, now: datetime) -> None:
    if not now < trial_end <= now + MAX_TRIAL:
        raise InvalidRequest(
            f"trial_end must be after the start ({rfc3339(now)}) and at most "
            f"{MAX_TRIAL.days} days later",
            code="invalid_trial_end",
        )


def new_sub(
    customer: Customer,
    plan: Plan,
    amount: int,
    currency: str,
    payment_method: str | None,
    trial: bool,
    now: datetime,
    explicit_trial_end: datetime | None = None,
) -> subs.Sub:
    trial_end = (explicit_trial_end or now + timedelta(days=plan.trial_days)) if trial else None
    # The billing anchor is the first paid moment: after a trial, the trial's end.
    anchor = trial_end or now
    period_end = trial_end or add_interval(now, plan.interval, plan.interval_count)
    sub = subs.Sub(
        id=new_id("sub"),
        customer_id=customer.id,
        test_clock_id=customer.test_clock_id,
        market=customer.market,
        region=customer.region,
        plan_id=plan.id,
        product_id=plan.product,
        price_amount=amount,
        intro_price=None,
        intro_periods_remaining=0,
        currency=currency,
        status=(Status.TRIALING if trial else Status.INCOMPLETE).value,
        billing_anchor=anchor,
        current_period_start=now,
        current_period_end=period_end,
        trial_start=now if trial else None,
        trial_end=trial_end,
        trial_notice_sent=False,
        canceled_at=None,
        ended_at=None,
        ended_reason=None,
        incomplete_expires_at=None if trial else now + INCOMPLETE_WINDOW,
        grace_ends_at=None,
        payment_method=payment_method,
        next_action_at=None,
        event_seq=0,
        created_at=now,
        updated_at=now,
    )
    sub.reschedule(now)
    return sub


def anchoring_of(
    customer: Customer,
    plan: Plan,
    now: datetime,
    billing_anchor: datetime | int | None,
    *,
    trial: bool,
) -> Anchored | None:
    """Where the periods of a new subscription are anchored, when not at the subscribe moment:
    the requested anchor, else the customer's billing day. A trial anchors at its end."""
    if not plan.renews:
        if billing_anchor is not None:
            raise InvalidRequest(
                f"{plan.id} is prepaid: its time starts when it is bought, without an anchor",
                code="billing_anchor_not_combinable",
            )
        return None
    if trial:
        if billing_anchor is not None:
            raise InvalidRequest(
                "a trial anchors billing at its end; pass billing_anchor or a trial, not both",
                code="billing_anchor_not_combinable",
            )
        return None
    spec = billing_anchor if billing_anchor is not None else customer.billing_day
    if spec is None:
        return None
    if isinstance(spec, int):
        reference = day_anchor(spec, now)
    else:
        check_timestamp_anchor(spec, plan.interval, plan.interval_count, now)
        reference = spec
    found = anchored(reference, plan.interval, plan.interval_count, now)
    return None if found.is_full(now) else found


def first_invoice(
    runtime: Runtime,
    sub: subs.Sub,
    discount: ActiveDiscount | None,
    now: datetime,
    anchoring: Anchored | None = None,
    comeback: ActiveDiscount | None = None,
) -> tuple[InvoiceRecord, bool]:
    """The first period's invoice (a short first period up to the billing day, or a full
    one); the flag says whether the win-back discount was used."""
    if anchoring is not None:
        rule = runtime.catalog.lifecycle_for(sub.market, sub.product_id).first_period
        lines = first_period_lines(
            runtime.catalog, sub, anchoring.full_start, anchoring.end, now, FirstPeriod(rule)
        )
    else:
        lines, _ = period_lines(
            runtime.catalog, sub, sub.current_period_start, sub.current_period_end, discount
        )
    used = offer_line(lines, comeback, sub.current_period_start, sub.current_period_end)
    invoice = build_invoice(
        customer_id=sub.customer_id,
        subscription_id=sub.id,
        currency=sub.currency,
        billing_reason=BillingReason.SUBSCRIPTION_CREATE,
        period_start=sub.current_period_start,
        period_end=sub.current_period_end,
        lines=lines,
        tax=runtime.tax_rule(sub.market, sub.region),
        created_at=now,
    )
    return invoice, used
