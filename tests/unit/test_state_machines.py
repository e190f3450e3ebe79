"""Every status machine other than the subscription's, checked over every (status, action) pair
against tables written out by hand from the domain rules (not derived from the code's tables).
"""

from __future__ import annotations

import itertools
from enum import StrEnum
from typing import Any

import pytest

from tenure.billing.disputes import DISPUTE, DisputeAction, DisputeStatus
from tenure.billing.records import (
    CREDIT_NOTE,
    INVOICE,
    CreditNoteAction,
    CreditNoteStatus,
    InvoiceAction,
    InvoiceStatus,
)
from tenure.dunning.cases import CASE, CaseAction, CaseStatus
from tenure.households.records import (
    HOUSEHOLD,
    INVITE,
    HouseholdAction,
    HouseholdStatus,
    InviteAction,
    InviteStatus,
)
from tenure.kernel.errors import Conflict
from tenure.kernel.machine import IllegalTransition, Machine
from tenure.payments.attempts import ATTEMPT, AttemptAction, AttemptStatus
from tenure.subscriptions.items import ITEM, ItemAction, ItemStatus

IS, IA = InvoiceStatus, InvoiceAction
EXPECTED: dict[str, tuple[Machine[Any, Any], dict[tuple[Any, Any], Any], set[Any]]] = {
    # Invoices: open until paid (credit + cash cover the total), voided (nothing owed, credit
    # back) or written off by dunning. Nothing leaves paid, void or uncollectible: a refund
    # changes amount_refunded, not the status; money arriving late is refunded.
    "invoice": (
        INVOICE,
        {
            (IS.OPEN, IA.PAY): IS.PAID,
            (IS.OPEN, IA.VOID): IS.VOID,
            (IS.OPEN, IA.WRITE_OFF): IS.UNCOLLECTIBLE,
        },
        {IS.PAID, IS.VOID, IS.UNCOLLECTIBLE},
    ),
    # Add-ons (issue 12): pending while the first charge is in flight; active until removed
    # or ended with the subscription; failed when that charge is declined.
    "subscription item": (
        ITEM,
        {
            (ItemStatus.PENDING, ItemAction.PAID): ItemStatus.ACTIVE,
            (ItemStatus.PENDING, ItemAction.DECLINED): ItemStatus.FAILED,
            (ItemStatus.PENDING, ItemAction.END): ItemStatus.ENDED,
            (ItemStatus.ACTIVE, ItemAction.REMOVE): ItemStatus.REMOVED,
            (ItemStatus.ACTIVE, ItemAction.END): ItemStatus.ENDED,
        },
        {ItemStatus.REMOVED, ItemStatus.ENDED, ItemStatus.FAILED},
    ),
    "payment attempt": (
        ATTEMPT,
        {
            (AttemptStatus.PENDING, AttemptAction.SUCCEED): AttemptStatus.SUCCEEDED,
            (AttemptStatus.PENDING, AttemptAction.FAIL): AttemptStatus.FAILED,
            # on-session: the bank asks the customer to authenticate (3-D Secure) first
            (AttemptStatus.PENDING, AttemptAction.AWAIT_ACTION): AttemptStatus.REQUIRES_ACTION,
            (AttemptStatus.REQUIRES_ACTION, AttemptAction.SUCCEED): AttemptStatus.SUCCEEDED,
            (AttemptStatus.REQUIRES_ACTION, AttemptAction.FAIL): AttemptStatus.FAILED,
        },
        {AttemptStatus.SUCCEEDED, AttemptStatus.FAILED},
    ),
    "credit note": (
        CREDIT_NOTE,
        {
            (CreditNoteStatus.PENDING, CreditNoteAction.CONFIRM): CreditNoteStatus.SUCCEEDED,
            (CreditNoteStatus.PENDING, CreditNoteAction.FAIL): CreditNoteStatus.FAILED,
            # an app store reversed the refund (App Store REFUND_REVERSED)
            (CreditNoteStatus.SUCCEEDED, CreditNoteAction.REVERSE): CreditNoteStatus.REVERSED,
        },
        {CreditNoteStatus.REVERSED, CreditNoteStatus.FAILED},
    ),
    "dunning case": (
        CASE,
        {
            (CaseStatus.OPEN, CaseAction.RECOVER): CaseStatus.RECOVERED,
            (CaseStatus.OPEN, CaseAction.EXHAUST): CaseStatus.EXHAUSTED,
            (CaseStatus.OPEN, CaseAction.END): CaseStatus.ENDED,
            (CaseStatus.OPEN, CaseAction.WAIVE): CaseStatus.WAIVED,
        },
        {CaseStatus.RECOVERED, CaseStatus.EXHAUSTED, CaseStatus.ENDED, CaseStatus.WAIVED},
    ),
    # Disputes: open until the bank decides; a decision can still turn (a second chargeback
    # after a win; a reversal or arbitration after a loss), so neither decision is final.
    "dispute": (
        DISPUTE,
        {
            (DisputeStatus.OPEN, DisputeAction.WIN): DisputeStatus.WON,
            (DisputeStatus.OPEN, DisputeAction.LOSE): DisputeStatus.LOST,
            (DisputeStatus.WON, DisputeAction.LOSE): DisputeStatus.LOST,
            (DisputeStatus.LOST, DisputeAction.WIN): DisputeStatus.WON,
        },
        set(),
    ),
    "household": (
        HOUSEHOLD,
        {(HouseholdStatus.ACTIVE, HouseholdAction.END): HouseholdStatus.ENDED},
        {HouseholdStatus.ENDED},
    ),
    "invite": (
        INVITE,
        {(InviteStatus.OPEN, InviteAction.ACCEPT): InviteStatus.ACCEPTED},
        {InviteStatus.ACCEPTED},
    ),
}


def _pairs() -> list[tuple[str, StrEnum, StrEnum]]:
    found = []
    for name, (machine, _, _) in EXPECTED.items():
        for status, action in itertools.product(machine.statuses, machine.actions):
            found.append((name, status, action))
    return found


@pytest.mark.parametrize(("name", "status", "action"), _pairs())
def test_every_pair_is_legal_exactly_as_the_domain_says(
    name: str, status: StrEnum, action: StrEnum
) -> None:
    machine, table, _ = EXPECTED[name]
    if (status, action) in table:
        assert machine.next(status, action) == table[(status, action)]
        assert machine.allows(status, action)
    else:
        with pytest.raises(IllegalTransition) as raised:
            machine.next(status, action)
        assert isinstance(raised.value, Conflict)  # a 409, never a 500
        assert raised.value.code == machine.code
        assert not machine.allows(status, action)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_the_table_has_nothing_the_domain_does_not_list(name: str) -> None:
    machine, table, terminal = EXPECTED[name]
    assert machine.table == table
    assert machine.terminal() == terminal
