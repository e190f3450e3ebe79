"""The set-based writes of the renewal batch (db/bulk.py), the outbox sequencer and the batched
sandbox ledger, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tenure.db.base import table_of
from tenure.db.bulk import insert_rows, update_rows
from tenure.db.engine import Database
from tenure.events.models import OutboxEvent
from tenure.events.sequencer import sequence_pending
from tenure.payments.models import SandboxCharge
from tenure.payments.ports import ChargeRequest, ChargeStatus, ProviderUnavailable
from tenure.payments.sandbox import SandboxProvider

_events = table_of(OutboxEvent)
AT = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)


def _event(n: int) -> dict[str, object]:
    return {
        "id": f"evt_{n:026d}",
        "type": "invoice.paid",
        "schema_version": 1,
        "created": AT + timedelta(seconds=n),
        "recorded_at": AT,
        "customer_id": f"cus_{n}" if n % 2 else None,
        "subscription_id": f"sub_{n}",
        "sequence": n,
        "data": {"n": n, "nested": {"ok": True}, "none": None},
        "request_id": None,
        "traceparent": None,
    }


async def test_rows_round_trip_and_only_named_columns_change(database: Database) -> None:
    rows = [_event(n) for n in range(1, 6)]
    async with database.transaction() as session:
        await insert_rows(session, _events, rows)
        await insert_rows(session, _events, [])  # nothing to write is no statement
    async with database.transaction() as session:
        await update_rows(
            session,
            _events,
            "id",
            [{"id": "evt_" + f"{n:026d}", "sequence": 100 + n} for n in (2, 4)],
        )
    async with database.read() as session:
        stored = (await session.execute(select(_events).order_by(_events.c.pk))).mappings().all()
    assert [row["sequence"] for row in stored] == [1, 102, 3, 104, 5]
    for row, wanted in zip(stored, rows, strict=True):
        assert row["data"] == wanted["data"]
        assert row["created"] == wanted["created"]
        assert row["customer_id"] == wanted["customer_id"]
        assert row["type"] == "invoice.paid"


async def test_sequencer_numbers_in_insertion_order_without_gaps(database: Database) -> None:
    async with database.transaction() as session:
        await insert_rows(session, _events, [_event(n) for n in range(1, 8)])
    async with database.transaction() as session:
        assert await sequence_pending(session, limit=3) == 3
    async with database.transaction() as session:
        assert await sequence_pending(session) == 4
        assert await sequence_pending(session) == 0
    async with database.read() as session:
        rows = (await session.execute(select(_events.c.pk, _events.c.position))).all()
    by_pk = sorted(rows)
    assert [position for _, position in by_pk] == list(range(1, 8))


def _request(key: str, method: str = "pm_card_visa", customer: str = "cus_1") -> ChargeRequest:
    return ChargeRequest(key, customer, 1000, "EUR", method, "Invoice")


async def test_sandbox_batches_concurrent_charges_once_each(database: Database) -> None:
    provider = SandboxProvider(database)
    requests = [_request(f"in_{n}:attempt:1", customer=f"cus_{n}") for n in range(40)]
    # the same key twice in one batch, a declining card, and one that times out after charging
    requests += [
        _request("in_0:attempt:1", customer="cus_0"),
        _request("in_d:attempt:1", "pm_card_declined"),
        _request("in_t:attempt:1", "pm_card_timeout_after_charge"),
    ]
    answers = await asyncio.gather(
        *(provider.charge(request) for request in requests), return_exceptions=True
    )
    first = answers[0]
    assert not isinstance(first, BaseException)
    assert first.status is ChargeStatus.SUCCEEDED
    duplicate = answers[40]
    assert not isinstance(duplicate, BaseException)
    assert duplicate.charge_id == first.charge_id  # same key, same outcome
    declined = answers[41]
    assert not isinstance(declined, BaseException)
    assert declined.status is ChargeStatus.DECLINED
    assert isinstance(answers[42], ProviderUnavailable)
    charged = [a for a in answers[:40] if not isinstance(a, BaseException)]
    assert len({a.charge_id for a in charged}) == 40
    async with database.read() as session:
        count = await session.scalar(select(func.count()).select_from(SandboxCharge))
    assert count == 42  # 40 + declined + the timed-out one, which did charge
    # asked again later, every key answers its first result
    again = await provider.charge(_request("in_5:attempt:1", customer="cus_5"))
    assert again == answers[5]
    timed_out = await provider.lookup("in_t:attempt:1")
    assert timed_out is not None and timed_out.status is ChargeStatus.SUCCEEDED


@pytest.mark.parametrize("card", ["pm_card_fails_after_first", "pm_card_recovers_on_retry"])
async def test_sandbox_history_cards_see_charges_of_the_same_batch(
    database: Database, card: str
) -> None:
    provider = SandboxProvider(database)
    first, second = await asyncio.gather(
        provider.charge(_request("in_a:attempt:1", card)),
        provider.charge(_request("in_b:attempt:1", card)),
    )
    assert first.status is ChargeStatus.SUCCEEDED
    # the second charge of this customer and card behaves as the card says
    assert second.status is ChargeStatus.DECLINED
    assert second.retryable
