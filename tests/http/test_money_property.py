"""Money conservation as a property, through the HTTP API, on SQLite and PostgreSQL.

A Hypothesis state machine drives one customer through subscribes, upgrades, downgrades,
interval changes (which create credit), renewals, soft and hard declines, dunning retries, new
default cards, manual pays, refunds (some above what may be refunded), voids and cancels, and
checks after every step that

- for every invoice, credit applied + cash paid never exceed the total, a paid invoice is
  covered exactly, and what is owed is total - credit - cash while open and 0 once closed;
- the sandbox provider's own ledger of captured cash equals the sum of ``amount_paid``, and its
  refunds equal the sum of ``amount_refunded``, which never exceeds the cash;
- the balance equals the credit banked - applied + returned, and is never negative;
- a refused refund records nothing.

The default run is short enough for ``make test``; ``pytest --hypothesis-profile=deep
tests/http/test_money_property.py`` runs many more and longer sequences. The two overcharge
reproductions of issue 9 are kept as explicit tests in ``test_money_reproductions.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from litestar.testing import TestClient
from sqlalchemy import func, select

from tenure.api.app import create_app
from tenure.payments.models import SandboxCharge, SandboxRefund
from tenure.settings import Settings
from tests.support.api import API_KEY, AUTH

START = datetime(2025, 1, 31, 10, tzinfo=UTC)
PLANS = [
    "premium_individual_monthly",
    "premium_individual_annual",
    "premium_duo_monthly",
    "premium_family_monthly",
    "premium_student_monthly",
]
CARDS = [
    "pm_card_visa",
    "pm_card_insufficient_funds",
    "pm_card_declined",
    "pm_card_recovers_on_retry",
    "pm_card_fails_after_first",
]


def _ts(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _examples() -> tuple[int, int]:
    """(examples, steps): short by default; the deep profile's budget when it is loaded."""
    if settings.default.max_examples > 100:
        return settings.default.max_examples, max(settings.default.stateful_step_count, 30)
    return 30, 12


class MoneyMachine(RuleBasedStateMachine):
    client: TestClient[Any]

    def __init__(self) -> None:
        super().__init__()
        self.now = START
        self.clock = ""
        self.customer = ""
        self.sub: dict[str, Any] | None = None

    # --- plumbing -------------------------------------------------------------------------

    def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        response = self.client.request(method, path, json=body, headers=AUTH)
        assert response.status_code < 500, f"{method} {path}: {response.text}"
        return response

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        response = self.call(method, path, body)
        assert response.status_code < 300, f"{method} {path}: {response.text}"
        return response.json()

    def invoices(self) -> list[dict[str, Any]]:
        body = self.ok("GET", f"/v1/invoices?customer={self.customer}&limit=100")
        assert not body["has_more"]
        return list(body["data"])

    def live(self) -> bool:
        if self.sub is None:
            return False
        self.sub = self.ok("GET", f"/v1/subscriptions/{self.sub['id']}")
        return self.sub["status"] in ("incomplete", "trialing", "active", "past_due", "on_hold")

    # --- rules ----------------------------------------------------------------------------

    # Annual plans are likelier: changing one to monthly is how credit appears.
    @initialize(
        plan=st.sampled_from([*PLANS, *["premium_individual_annual"] * 3]),
        card=st.sampled_from([CARDS[0], *CARDS[3:]]),
    )
    def start(self, plan: str, card: str) -> None:
        self.clock = self.ok("POST", "/v1/test_clocks", {"frozen_time": _ts(START)})["id"]
        self.customer = self.ok(
            "POST",
            "/v1/customers",
            {
                "external_id": f"money-{self.clock}",
                "email": "ada@example.com",
                "market": "SE",
                "test_clock": self.clock,
            },
        )["id"]
        self.subscribe(plan, card)

    def subscribe(self, plan: str, card: str) -> None:
        response = self.call(
            "POST",
            "/v1/subscriptions",
            {"customer": self.customer, "plan": plan, "payment_method": card},
        )
        if response.status_code == 201:
            self.sub = response.json()

    @rule(days=st.integers(1, 62))
    def advance(self, days: int) -> None:
        self.now += timedelta(days=days)
        self.ok("POST", f"/v1/test_clocks/{self.clock}/advance", {"frozen_time": _ts(self.now)})

    @precondition(lambda self: self.sub is not None)
    @rule(plan=st.sampled_from(PLANS), at=st.sampled_from([None, "now", "period_end"]))
    def change(self, plan: str, at: str | None) -> None:
        assert self.sub is not None
        body: dict[str, Any] = {"plan": plan, "remove_members": True}
        if at is not None:
            body["at"] = at
        preview = self.call("POST", f"/v1/subscriptions/{self.sub['id']}/change_preview", body)
        response = self.call("POST", f"/v1/subscriptions/{self.sub['id']}/change", body)
        if response.status_code == 200 and preview.status_code == 200:
            invoice_id = response.json()["latest_invoice"]
            if invoice_id is not None:
                invoice = self.ok("GET", f"/v1/invoices/{invoice_id}")
                # What a change charges is its preview, to the minor unit.
                assert invoice["total"] == preview.json()["total"]
                assert invoice["credit_applied"] == preview.json()["credit_applied"]

    # Changing now is the likeliest way to meet credit with a charge: weigh it twice.
    @precondition(lambda self: self.sub is not None)
    @rule(plan=st.sampled_from(PLANS))
    def change_now(self, plan: str) -> None:
        self.change(plan, "now")

    @rule(card=st.sampled_from(CARDS))
    def new_default_card(self, card: str) -> None:
        self.ok(
            "POST",
            f"/v1/customers/{self.customer}/payment_methods",
            {"payment_method": card, "default": True},
        )

    @rule(card=st.sampled_from(CARDS), pick=st.integers(0, 5))
    def pay(self, card: str, pick: int) -> None:
        open_ = [i for i in self.invoices() if i["status"] == "open"]
        if open_:
            invoice = open_[pick % len(open_)]
            self.call("POST", f"/v1/invoices/{invoice['id']}/pay", {"payment_method": card})

    @rule(pick=st.integers(0, 20), extra=st.integers(-2000, 300))
    def refund(self, pick: int, extra: int) -> None:
        paid = [i for i in self.invoices() if i["status"] == "paid" and i["amount_paid"] > 0]
        if not paid:
            return
        invoice = paid[pick % len(paid)]
        available = invoice["amount_paid"] - invoice["amount_refunded"]
        amount = max(available + extra, 1)
        before = self.ok("GET", f"/v1/invoices/{invoice['id']}")
        response = self.call(
            "POST", f"/v1/invoices/{invoice['id']}/refund", {"amount": amount, "reason": "goodwill"}
        )
        if amount > available:
            assert (response.status_code, response.json()["code"]) == (422, "refund_exceeds_paid")
            assert response.json()["refundable"] == available
            assert self.ok("GET", f"/v1/invoices/{invoice['id']}") == before
        else:
            assert response.status_code == 201, response.text

    @rule(pick=st.integers(0, 5))
    def void(self, pick: int) -> None:
        open_ = [i for i in self.invoices() if i["status"] == "open"]
        if open_:
            self.call("POST", f"/v1/invoices/{open_[pick % len(open_)]['id']}/void", {})

    @precondition(lambda self: self.sub is not None)
    @rule(at_period_end=st.booleans())
    def cancel(self, at_period_end: bool) -> None:
        assert self.sub is not None
        self.call(
            "POST", f"/v1/subscriptions/{self.sub['id']}/cancel", {"at_period_end": at_period_end}
        )

    @rule(plan=st.sampled_from(PLANS), card=st.sampled_from([CARDS[0], *CARDS[3:]]))
    def resubscribe(self, plan: str, card: str) -> None:
        if not self.live():
            self.subscribe(plan, card)

    # --- the property ---------------------------------------------------------------------

    @invariant()
    def money_is_conserved(self) -> None:
        if not self.customer:
            return
        invoices = self.invoices()
        for i in invoices:
            cash, credit, total = i["amount_paid"], i["credit_applied"], i["total"]
            assert credit >= 0 and cash >= 0, i
            assert credit + cash <= max(total, 0), f"more than the total was taken: {i}"
            assert 0 <= i["amount_refunded"] <= cash, i
            assert 0 <= i["credit_returned"] <= credit, i
            if i["status"] == "open":
                assert i["amount_due"] == max(total - credit - cash, 0), i
            else:
                assert i["amount_due"] == 0, i
            if i["status"] == "paid":
                assert credit + cash == max(total, 0), f"paid but not covered: {i}"
        captured, refunded = self.client.blocking_portal.call(self.ledger)
        assert captured == sum(i["amount_paid"] for i in invoices), "ledger != amount_paid"
        assert refunded == sum(i["amount_refunded"] for i in invoices), "ledger != refunded"
        balance = self.ok("GET", f"/v1/customers/{self.customer}")["balance"]
        banked = sum(i["credited_to_balance"] for i in invoices)
        used = sum(i["credit_applied"] for i in invoices)
        returned = sum(i["credit_returned"] for i in invoices)
        assert balance["amount"] == banked - used + returned
        assert balance["amount"] >= 0

    async def ledger(self) -> tuple[int, int]:
        """What the sandbox provider (its own tables) captured and refunded for the customer."""
        runtime = self.client.app.state.runtime
        async with runtime.db.read() as session:
            captured = await session.scalar(
                select(func.coalesce(func.sum(SandboxCharge.amount), 0)).where(
                    SandboxCharge.customer_id == self.customer, SandboxCharge.status == "succeeded"
                )
            )
            refunded = await session.scalar(
                select(func.coalesce(func.sum(SandboxRefund.amount), 0))
                .join(SandboxCharge, SandboxCharge.charge_id == SandboxRefund.charge_id)
                .where(SandboxCharge.customer_id == self.customer)
            )
        return int(captured or 0), int(refunded or 0)


def test_money_is_conserved_through_any_sequence(database_url: str) -> None:
    settings_ = Settings(
        database_url=database_url, api_key=API_KEY, embedded_worker=False, migrate=False
    )
    examples, steps = _examples()
    with TestClient(app=create_app(settings_)) as client:
        MoneyMachine.client = client
        run_state_machine_as_test(
            MoneyMachine,
            settings=settings(
                max_examples=examples,
                stateful_step_count=steps,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
