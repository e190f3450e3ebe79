"""Where the application is put together: the API, the CLI and the tests all call
:func:`assemble`, which wires the payment-outcome handlers (one per billing reason, each living
with its use case) and installs the entitlement projection on the database."""

from __future__ import annotations

from tenure.billing.records import BillingReason
from tenure.catalog.model import Catalog
from tenure.db.engine import Database
from tenure.flows import (
    disputes,
    projection,
    provider_events,
    provider_payments,
    provider_refunds,
)
from tenure.flows.addons import AddonPayment
from tenure.flows.cancel_credit import CancelCredit
from tenure.flows.change_plan import PlanChangePayment
from tenure.flows.first_payment import FirstPayment
from tenure.flows.outcomes import OutcomeHandlers
from tenure.flows.prepaid import PrepaidExtension
from tenure.flows.renewal import RenewalPayment
from tenure.flows.runtime import Runtime
from tenure.kernel.clock import Clock, SystemClock
from tenure.payments.inbox import EventKind
from tenure.payments.ports import PaymentProvider


def outcome_handlers() -> OutcomeHandlers:
    renewal = RenewalPayment()
    return OutcomeHandlers(
        {
            BillingReason.SUBSCRIPTION_CREATE: FirstPayment(),
            BillingReason.SUBSCRIPTION_CYCLE: renewal,
            BillingReason.TRIAL_END: renewal,
            BillingReason.SUBSCRIPTION_UPDATE: PlanChangePayment(),
            BillingReason.SUBSCRIPTION_CANCEL: CancelCredit(),
            BillingReason.HOLD_CREDIT: CancelCredit(),
            BillingReason.PREPAID_EXTENSION: PrepaidExtension(),
            BillingReason.SUBSCRIPTION_ITEM: AddonPayment(),
            BillingReason.SUBSCRIPTION_ITEM_CREDIT: CancelCredit(),
        }
    )


def install_provider_handlers() -> None:
    """The handlers of provider webhooks (the inbox's kinds), each living with its use case."""
    provider_events.register(EventKind.PAYMENT_OUTCOME, provider_payments.payment_outcome)
    provider_events.register(EventKind.AUTHENTICATION, provider_payments.payment_outcome)
    provider_events.register(EventKind.REFUND, provider_refunds.refund_event)
    provider_events.register(EventKind.DISPUTE, disputes.dispute_event_handler)


def assemble(
    *,
    db: Database,
    catalog: Catalog,
    provider: PaymentProvider,
    clock: Clock | None = None,
) -> Runtime:
    runtime = Runtime(db=db, catalog=catalog, provider=provider, clock=clock or SystemClock())
    runtime.outcomes = outcome_handlers()
    install_provider_handlers()
    projection.install(runtime)
    return runtime
