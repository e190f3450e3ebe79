"""The unit of work: everything a flow changes in one transaction, written in one flush.

A flow opens a transaction, loads what it needs (locking in the order subscription → invoice
→ attempt), changes typed records in memory with the pure rules, tells the unit what changed,
and calls :meth:`UnitOfWork.flush` once. The flush writes with a few set-based statements, in a
fixed order, and brings the households of every touched manager in line with their
subscription before the entitlement projection runs at COMMIT.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tenure.billing import balance, offers, promotions
from tenure.billing import service as invoices
from tenure.billing.balance import CreditReturn
from tenure.billing.promotions import ActiveDiscount
from tenure.billing.records import CreditNoteRecord, CreditNoteStatus, InvoiceRecord
from tenure.dunning import cases
from tenure.dunning.cases import Case
from tenure.events.record import record as record_events
from tenure.flows import duplicates, household_sync
from tenure.flows.household_sync import OWNS_HOUSEHOLD
from tenure.flows.runtime import Runtime
from tenure.kernel.ids import new_id
from tenure.payments import attempts
from tenure.payments.attempts import Attempt
from tenure.payments.methods import PaymentMethod
from tenure.subscriptions import changes
from tenure.subscriptions import items as item_rows
from tenure.subscriptions import record as subs
from tenure.subscriptions.items import Item
from tenure.subscriptions.record import HistoryEntry, Sub
from tenure.subscriptions.state import TERMINAL_STATUSES as TERMINAL


@dataclass
class UnitOfWork:
    runtime: Runtime
    session: AsyncSession
    actor: str
    subs: dict[str, Sub] = field(default_factory=dict)
    new_subs: list[Sub] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    new_invoices: list[InvoiceRecord] = field(default_factory=list)
    changed_invoices: dict[str, InvoiceRecord] = field(default_factory=dict)
    new_attempts: list[Attempt] = field(default_factory=list)
    finished_attempts: list[Attempt] = field(default_factory=list)
    closed_changes: list[tuple[str, str, datetime]] = field(default_factory=list)
    credit_returns: list[tuple[CreditReturn, datetime]] = field(default_factory=list)
    refunds: list[CreditNoteRecord] = field(default_factory=list)
    used_discounts: list[ActiveDiscount] = field(default_factory=list)
    # New invoices with a negative total issued by synchronous handlers: banked on the balance
    # (``balance.settle``) when the unit flushes, before they are stored.
    to_bank: list[InvoiceRecord] = field(default_factory=list)
    # Add-ons: the item each add-on invoice pays for (loaded by its handler), items changed.
    addon_items: dict[str, Item] = field(default_factory=dict)
    changed_items: list[Item] = field(default_factory=list)
    # Dunning: the open case of each subscription in dunning (loaded by the flows that need
    # them), cases opened and changed here, and each customer's default payment method.
    open_cases: dict[str, Case] = field(default_factory=dict)
    new_cases: list[Case] = field(default_factory=list)
    changed_cases: dict[str, Case] = field(default_factory=dict)
    default_methods: dict[str, PaymentMethod] = field(default_factory=dict)

    # --- what changed ---------------------------------------------------------------------

    def track(self, sub: Sub) -> Sub:
        """``sub`` is saved at flush (its event sequence moves with every event it records)."""
        if all(new.id != sub.id for new in self.new_subs):
            self.subs[sub.id] = sub
        return sub

    def add_sub(self, sub: Sub) -> None:
        self.new_subs.append(sub)

    def record(self, entry: HistoryEntry) -> None:
        self.history.append(entry)

    def emit(self, *events: dict[str, Any]) -> None:
        self.events.extend(events)

    def add_invoice(self, invoice: InvoiceRecord) -> None:
        self.new_invoices.append(invoice)

    def invoice_changed(self, invoice: InvoiceRecord) -> None:
        if all(new.id != invoice.id for new in self.new_invoices):
            self.changed_invoices[invoice.id] = invoice

    def add_attempt(self, attempt: Attempt) -> None:
        self.new_attempts.append(attempt)

    def attempt_finished(self, attempt: Attempt) -> None:
        self.finished_attempts.append(attempt)

    def close_change(self, change_id: str, *, status: str, at: datetime) -> None:
        """A scheduled change was ``applied`` or ``canceled``."""
        self.closed_changes.append((change_id, status, at))

    def drop_pending(self, sub: Sub, *, at: datetime) -> None:
        """Cancel every change still scheduled for ``sub``."""
        for change in sub.pending.values():
            self.close_change(change.id, status="canceled", at=at)
        sub.pending.clear()

    def give_back(self, invoice: InvoiceRecord, amount: int, *, reason: str, at: datetime) -> None:
        if amount > 0:
            item = CreditReturn(invoice.customer_id, invoice.currency, amount, invoice.id, reason)
            self.credit_returns.append((item, at))

    def refund_late(
        self, invoice: InvoiceRecord, *, amount: int, charge_id: str, at: datetime, reason: str
    ) -> None:
        """Queue a refund of cash the invoice did not owe; the worker sends it on its next pass
        (the lease starts expired), asking the provider first if it crashes."""
        note_id = new_id("cn")
        self.refunds.append(
            CreditNoteRecord(
                id=note_id,
                invoice_id=invoice.id,
                customer_id=invoice.customer_id,
                amount=amount,
                currency=invoice.currency,
                reason=reason,
                status=CreditNoteStatus.PENDING,
                idempotency_key=f"{note_id}:refund",
                charge_id=charge_id,
                lease_until=datetime.now(UTC) - timedelta(seconds=1),
                created_at=at,
            )
        )

    def use_discount(self, discount: ActiveDiscount) -> None:
        self.used_discounts.append(discount)

    def open_case(self, case: Case) -> None:
        self.new_cases.append(case)
        self.open_cases[case.subscription_id] = case

    def case_changed(self, case: Case) -> None:
        if all(new.id != case.id for new in self.new_cases):
            self.changed_cases[case.id] = case

    # --- loading shared by several handlers ---------------------------------------------------

    async def load_dunning(self, in_dunning: Iterable[Sub]) -> None:
        """Lock and load the open cases of ``in_dunning`` and their customers' default methods
        (one query each, for a whole batch)."""
        from tenure.payments import methods

        wanted = [sub for sub in in_dunning if sub.id not in self.open_cases]
        if not wanted:
            return
        self.open_cases.update(
            await cases.open_cases(self.session, [sub.id for sub in wanted], for_update=True)
        )
        customers = sorted({sub.customer_id for sub in wanted} - set(self.default_methods))
        self.default_methods.update(await methods.default_for(self.session, customers))

    # --- the write ----------------------------------------------------------------------------

    async def flush(self) -> None:
        session = self.session
        by_status: dict[tuple[str, datetime], list[str]] = defaultdict(list)
        for change_id, status, at in self.closed_changes:
            by_status[(status, at)].append(change_id)
        for (status, at), ids in by_status.items():
            await changes.close_ids(session, ids, status=status, at=at)
        await promotions.consume(session, self.used_discounts)
        await offers.consume(
            session, [d.redemption_id for d in self.used_discounts if d.source == "offer"]
        )
        await cases.insert_cases(session, self.new_cases)
        await cases.save_cases(session, self.changed_cases.values())
        if self.to_bank:
            await balance.settle(session, self.to_bank, at=self.to_bank[0].created_at)
        await invoices.insert_invoices(session, self.new_invoices)
        await invoices.save(session, self.changed_invoices.values())
        await attempts.insert_attempts(session, self.new_attempts)
        await attempts.save_outcomes(session, self.finished_attempts)
        returns: dict[datetime, list[CreditReturn]] = defaultdict(list)
        for item, at in self.credit_returns:
            returns[at].append(item)
        for at, items in returns.items():
            await balance.give_back(session, items, at=at)
        for note in self.refunds:
            await invoices.insert_note(session, note)
        for sub in self.new_subs:
            await subs.insert_new(session, sub)
        await subs.save(session, self.subs.values())
        await item_rows.save(session, self.changed_items)
        # A subscription's add-ons end with it.
        ended = [sub for sub in [*self.new_subs, *self.subs.values()] if sub.state in TERMINAL]
        await item_rows.end_with(
            session, [(sub.id, sub.ended_at or sub.updated_at) for sub in ended]
        )
        # Households follow their manager's subscription: an explicit step of every flow that
        # changes subscriptions, before the entitlement projection runs at COMMIT.
        # A new subscription that has not started (incomplete, scheduled) owns no household:
        # inserting it changes none.
        saved = [*(s for s in self.new_subs if s.state in OWNS_HOUSEHOLD), *self.subs.values()]
        self.events.extend(
            await household_sync.follow(self.runtime, session, [sub.customer_id for sub in saved])
        )
        await subs.add_history(session, self.history)
        # A new subscription beside another live one (web and a store): support should know.
        self.events.extend(await duplicates.events_for(session, self.new_subs))
        await record_events(session, self.events)
        self._clear()

    def _clear(self) -> None:
        for name in (
            "new_subs",
            "history",
            "events",
            "new_invoices",
            "new_attempts",
            "finished_attempts",
            "closed_changes",
            "credit_returns",
            "refunds",
            "used_discounts",
            "to_bank",
            "changed_items",
            "new_cases",
        ):
            getattr(self, name).clear()
        for mapping in (self.subs, self.changed_invoices, self.changed_cases, self.addon_items):
            mapping.clear()
