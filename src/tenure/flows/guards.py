"""Preconditions shared by flows that change what a subscription sells."""

from __future__ import annotations

from tenure.kernel.errors import Conflict
from tenure.subscriptions.record import Sub
from tenure.subscriptions.state import DUNNING_STATUSES


class SubscriptionHasBillingIssue(Conflict):
    code = "subscription_has_billing_issue"


def ensure_no_billing_issue(sub: Sub) -> None:
    """Refuse a plan change (or anything that re-prices) while a renewal is unpaid.

    Changing the plan of a ``past_due`` or ``on_hold`` subscription would bill a new price on
    top of an unpaid invoice; the customer must fix the payment first. Plan changes call this
    before they touch anything.
    """
    if sub.state in DUNNING_STATUSES:
        raise SubscriptionHasBillingIssue(
            f"{sub.id} is {sub.status}: its renewal is unpaid. Update the payment method "
            f"(POST /v1/customers/{sub.customer_id}/payment_methods with default true) or pay "
            "the open "
            "invoice, then change the plan",
            subscription=sub.id,
            subscription_status=sub.status,
        )
