"""Retention levers as a property, through the HTTP API, on SQLite and PostgreSQL.

A Hypothesis state machine drives one customer on a test clock through random sequences of
pauses (from the period end or now, for periods or until a date), early resumes, cancels (now
or at period end, with reasons), reactivations, save offers (taken or declined), price changes
(notice and opt-in, accepted or not), win-back resubscribes and clock advances, and checks
after every step that

- no period is billed twice: the period invoices of a subscription that were not voided never
  overlap;
- no paused day is billed: no such invoice overlaps a span the subscription was paused
  (history ``pause`` → ``resume`` / end), except the period a pause "now" interrupted, and
  then exactly its unused whole days were credited back (``subscription.paused.credited``).

Every answer must be below 500. ``--hypothesis-profile=deep`` runs longer sequences.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from litestar.testing import TestClient

from tenure.api.app import create_app
from tenure.catalog.loader import default_catalog_path
from tenure.kernel.clock import parse_rfc3339
from tenure.kernel.money import round_half_up
from tenure.settings import Settings
from tests.support.api import API_KEY, AUTH

START = datetime(2025, 1, 31, 10, tzinfo=UTC)
PLANS = ["premium_individual_monthly", "premium_family_monthly", "premium_duo_monthly"]
OFFERS = [
    "half_price_3_months",
    "pause_instead",
    "two_free_weeks",
    "family_to_duo",
    "duo_to_individual",
]
REASONS = ["too_expensive", "not_using", "technical_issues", "switching_service", "other"]
VERSIONS = """
[retention.offers.two_free_weeks_early]
kind = "extension"
days = 14
window_days = 60

[[price_versions]]
plan = "premium_individual_monthly"
version = "p1"
effective_from = "2025-02-15T00:00:00Z"
[price_versions.prices]
SE = "139.00"

[[price_versions]]
plan = "premium_individual_monthly"
version = "p2"
effective_from = "2025-04-01T00:00:00Z"
[price_versions.prices]
SE = "149.00"

[[price_versions]]
plan = "premium_family_monthly"
version = "f1"
effective_from = "2025-03-01T00:00:00Z"
[price_versions.prices]
SE = "229.00"
"""
PERIOD_REASONS = {"subscription_create", "subscription_cycle", "trial_end"}


def _ts(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _examples() -> tuple[int, int]:
    if settings.default.max_examples > 100:
        return settings.default.max_examples, max(settings.default.stateful_step_count, 30)
    return 20, 12


class RetentionMachine(RuleBasedStateMachine):
    client: TestClient[Any]

    def __init__(self) -> None:
        super().__init__()
        self.now = START
        self.clock = ""
        self.customer = ""
        self.sub = ""

    def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        response = self.client.request(method, path, json=body, headers=AUTH)
        assert response.status_code < 500, f"{method} {path}: {response.text}"
        return response

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        response = self.call(method, path, body)
        assert response.status_code < 300, f"{method} {path}: {response.text}"
        return response.json()

    # --- rules ----------------------------------------------------------------------------

    @initialize(plan=st.sampled_from(PLANS))
    def start(self, plan: str) -> None:
        self.clock = self.ok("POST", "/v1/test_clocks", {"frozen_time": _ts(START)})["id"]
        self.customer = self.ok(
            "POST",
            "/v1/customers",
            {
                "external_id": f"retention-{self.clock}",
                "email": "ada@example.com",
                "market": "SE",
                "test_clock": self.clock,
            },
        )["id"]
        self.subscribe(plan, None)

    def subscribe(self, plan: str, offer: str | None) -> None:
        body = {"customer": self.customer, "plan": plan, "payment_method": "pm_card_visa"}
        if offer:
            body["offer"] = offer
        response = self.call("POST", "/v1/subscriptions", body)
        if response.status_code == 201:
            self.sub = response.json()["id"]

    @rule(days=st.integers(1, 75))
    def advance(self, days: int) -> None:
        self.now += timedelta(days=days)
        self.ok("POST", f"/v1/test_clocks/{self.clock}/advance", {"frozen_time": _ts(self.now)})

    @rule(
        periods=st.one_of(st.none(), st.integers(1, 3)),
        days=st.integers(2, 80),
        start=st.sampled_from([None, "period_end", "now"]),
    )
    def pause(self, periods: int | None, days: int, start: str | None) -> None:
        body: dict[str, Any] = (
            {"periods": periods}
            if periods is not None
            else {"resumes_at": _ts(self.now + timedelta(days=days + 31))}
        )
        if start is not None:
            body["start"] = start
        self.call("POST", f"/v1/subscriptions/{self.sub}/pause", body)

    @rule()
    def resume(self) -> None:
        self.call("POST", f"/v1/subscriptions/{self.sub}/resume")

    @rule(at_period_end=st.booleans(), reason=st.sampled_from([None, *REASONS]))
    def cancel(self, at_period_end: bool, reason: str | None) -> None:
        body: dict[str, Any] = {"at_period_end": at_period_end}
        if reason:
            body["reason"] = reason
        self.call("POST", f"/v1/subscriptions/{self.sub}/cancel", body)

    @rule()
    def reactivate(self) -> None:
        self.call("POST", f"/v1/subscriptions/{self.sub}/reactivate")

    @rule(offer=st.sampled_from([*OFFERS, "two_free_weeks_early"]), take=st.booleans())
    def offer(self, offer: str, take: bool) -> None:
        self.call("GET", f"/v1/subscriptions/{self.sub}/retention_offers")
        verb = "accept" if take else "decline"
        self.call("POST", f"/v1/subscriptions/{self.sub}/retention_offers/{offer}/{verb}")

    @rule(version=st.sampled_from(["p1", "p2", "f1"]))
    def price_change(self, version: str) -> None:
        plan = "premium_family_monthly" if version == "f1" else "premium_individual_monthly"
        self.call("POST", "/v1/price_changes", {"plan": plan, "market": "SE", "version": version})

    @rule()
    def accept_price(self) -> None:
        self.call("POST", f"/v1/subscriptions/{self.sub}/price_change/accept")

    @rule(plan=st.sampled_from(PLANS), winback=st.booleans())
    def resubscribe(self, plan: str, winback: bool) -> None:
        self.subscribe(plan, "come_back_half_price" if winback else None)

    # --- the property ---------------------------------------------------------------------

    @invariant()
    def no_period_twice_and_no_paused_day_billed(self) -> None:
        if not self.customer:
            return
        body = self.ok("GET", f"/v1/invoices?customer={self.customer}&limit=100")
        assert not body["has_more"]
        billed: dict[str, list[dict[str, Any]]] = {}
        for invoice in body["data"]:
            if invoice["billing_reason"] in PERIOD_REASONS and invoice["status"] != "void":
                billed.setdefault(invoice["subscription"], []).append(invoice)
        for sub_id, invoices in billed.items():
            credits = self._pause_credits(sub_id)
            paused = list(self._paused(sub_id))
            spans = []
            for invoice in invoices:
                start = parse_rfc3339(invoice["period_start"])
                end = parse_rfc3339(invoice["period_end"])
                # A pause "now" interrupting a paid period ends what that invoice bills: the
                # rest must have been credited back, exactly.
                for paused_from, _ in paused:
                    if start <= paused_from < end:
                        self._credited(invoice, start, end, paused_from, credits)
                        end = paused_from
                spans.append((start, end, invoice))
            spans.sort(key=lambda span: (span[0], span[1]))
            for (_, end, first), (start, _, second) in itertools.pairwise(spans):
                assert start >= end, f"{first['id']} and {second['id']} bill the same days"
            for paused_from, paused_until in paused:
                for start, end, invoice in spans:
                    assert not (start < paused_until and paused_from < end), (
                        f"{invoice['id']} bills days the customer was paused"
                    )

    def _paused(self, sub_id: str) -> Iterator[tuple[datetime, datetime]]:
        rows = self.ok("GET", f"/v1/subscriptions/{sub_id}/history")["data"]
        began: datetime | None = None
        for row in rows:
            if row["to"] == "paused" and row["from"] != "paused":
                began = parse_rfc3339(row["at"])
            elif row["from"] == "paused" and row["to"] != "paused" and began is not None:
                yield began, parse_rfc3339(row["at"])
                began = None
        if began is not None:
            yield began, self.now + timedelta(days=3650)

    def _pause_credits(self, sub_id: str) -> dict[datetime, int]:
        events = self.ok(
            "GET", f"/v1/events?subscription={sub_id}&type=subscription.paused&limit=100"
        )["data"]
        return {
            parse_rfc3339(e["data"]["current_period_start"]): e["data"]["credited"] for e in events
        }

    def _credited(
        self,
        invoice: dict[str, Any],
        start: datetime,
        end: datetime,
        paused_from: datetime,
        credits: dict[datetime, int],
    ) -> None:
        """A paid period a pause "now" interrupted: its unused whole days went back."""
        total_days = (end.date() - start.date()).days
        unused = (end.date() - paused_from.date()).days
        paid = invoice["total"] - invoice["amount_refunded"]
        expected = round_half_up(Fraction(paid) * Fraction(unused, total_days))
        assert credits.get(paused_from) == expected, (
            f"{invoice['id']} bills paused days from {paused_from}: credited "
            f"{credits.get(paused_from)}, owed {expected}"
        )


def test_no_paused_day_and_no_period_is_billed_twice(database_url: str, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(default_catalog_path().read_text() + VERSIONS)
    settings_ = Settings(
        database_url=database_url,
        api_key=API_KEY,
        embedded_worker=False,
        migrate=False,
        catalog_path=str(catalog),
    )
    examples, steps = _examples()
    with TestClient(app=create_app(settings_)) as client:
        RetentionMachine.client = client
        run_state_machine_as_test(
            RetentionMachine,
            settings=settings(
                max_examples=examples,
                stateful_step_count=steps,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
