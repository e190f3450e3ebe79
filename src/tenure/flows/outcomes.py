"""What happens after money moves on an invoice is decided by the use case that issued it.

:mod:`tenure.flows.collect` records a payment outcome (the attempt, the cash on the invoice)
and hands it to the handler registered for the invoice's :class:`BillingReason`: the first
payment (``flows.subscribe``), renewals and dunning recovery (``flows.renewal``), plan changes
(``flows.change_plan``). Manual voids go to the same handlers. The registry is built where
the application is assembled (:mod:`tenure.flows.assembly`), so no module here imports the
use cases it dispatches to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from tenure.billing import service as invoices
from tenure.billing.records import BillingReason, InvoiceRecord
from tenure.kernel.clock import rfc3339
from tenure.payments.attempts import Attempt
from tenure.payments.ports import ChargeResult
from tenure.subscriptions.record import Sub

if TYPE_CHECKING:
    from tenure.flows.unit import UnitOfWork


@dataclass(slots=True)
class Settlement:
    """One invoice whose money moved: paid (by cash or credit), declined, or voided."""

    invoice: InvoiceRecord
    sub: Sub | None
    at: datetime
    attempt: Attempt | None = None  # None when credit covered the invoice or on a void
    result: ChargeResult | None = None


class OutcomeHandler(Protocol):
    async def prepare(self, uow: UnitOfWork, items: Sequence[Settlement]) -> None:
        """Load, in one go for the whole batch, whatever ``paid``/``failed`` will need."""
        ...

    def paid(self, uow: UnitOfWork, item: Settlement) -> None:
        """The invoice is paid in full (its ``invoice.paid`` event is already recorded)."""
        ...

    def failed(self, uow: UnitOfWork, item: Settlement) -> None:
        """An attempt was declined (``item.result`` says how)."""
        ...

    def voided(self, uow: UnitOfWork, item: Settlement) -> None:
        """The open invoice was voided on request (its credit is already returned)."""
        ...


class OutcomeHandlers:
    """The registry: one handler per billing reason, every reason covered."""

    def __init__(self, handlers: Mapping[BillingReason, OutcomeHandler]) -> None:
        missing = set(BillingReason) - set(handlers)
        if missing:
            raise ValueError(f"no payment-outcome handler for {sorted(missing)}")
        self._handlers = dict(handlers)

    def __getitem__(self, reason: BillingReason) -> OutcomeHandler:
        return self._handlers[reason]

    def handlers(self) -> list[OutcomeHandler]:
        """Each distinct handler once (one may serve several reasons)."""
        unique: dict[int, OutcomeHandler] = {}
        for handler in self._handlers.values():
            unique.setdefault(id(handler), handler)
        return list(unique.values())


def payment_failed_event(
    item: Settlement, *, next_attempt: datetime | None = None
) -> dict[str, Any]:
    """``invoice.payment_failed`` for a declined attempt, numbered on its subscription."""
    result = item.result
    assert result is not None
    return invoices.invoice_event(
        "invoice.payment_failed",
        item.invoice,
        at=item.at,
        sequence=item.sub.next_sequence() if item.sub else None,
        decline_code=result.decline_code,
        failure_message=result.message,
        retryable=result.retryable,
        next_payment_attempt=None if next_attempt is None else rfc3339(next_attempt),
    )
