"""The hot read: one statement on a miss, none on a cache hit, one for a whole batch."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import event

from tenure.db.engine import Database
from tenure.flows import accounts
from tenure.flows import entitlements as reads
from tests.integration.support import runtime_for


async def test_reads_cost_one_statement_or_none(database: Database) -> None:
    runtime = runtime_for(database)
    ids = [
        (
            await accounts.create_customer(
                runtime,
                external_id=f"read-{uuid.uuid4().hex[:8]}",
                email="r@example.com",
                market="SE",
                test_clock_id=None,
            )
        ).id
        for _ in range(3)
    ]
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", count)
    try:
        runtime.entitlements.clear()
        first = await reads.one(runtime, customer_id=ids[0])
        assert first.body["source"] == "free"
        selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
        assert len(selects) == 1, statements
        statements.clear()
        again = await reads.one(runtime, customer_id=ids[0])
        assert again is first and statements == []
        runtime.entitlements.clear()
        views, missing = await reads.many(runtime, by_external=False, keys=[*ids, "cus_none"])
        assert [v.customer_id for v in views] == ids
        assert missing == ["cus_none"]
        selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
        # One read for the batch, plus one lookup of the id that matches no row.
        assert len(selects) == 2, statements
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", count)
