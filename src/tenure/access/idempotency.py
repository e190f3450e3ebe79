"""An ``Idempotency-Key`` claimed inside the transaction of the flow it protects.

The API gate (``tenure.api.gate``) normally claims a key in a transaction of its own before the
route runs and stores the response in another one after it. A flow that writes in a known
number of transactions (checkout: ``tenure.flows.subscribe``) can take both over: it inserts
the in-progress record with its first transaction (:func:`claim_in`) and stores the response
with its last one (:func:`complete_in`), so a retry finds either nothing, a request in
progress, or the stored answer, exactly as with the gate's own transactions. The gate keeps
every other case: a key already taken (the insert fails; the flow's transaction rolls back and
the gate answers from the stored record), and any response the flow did not store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import bindparam, insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.access.models import IdempotencyRecord
from tenure.db.base import table_of

_table = table_of(IdempotencyRecord)
PATH_LENGTH: Final = 500
# Where the gate puts the :class:`Claim` in the ASGI scope's ``state``.
CLAIM: Final = "idempotency_claim"  # the column's size; the digest has all of the path


class KeyTaken(Exception):
    """The key is already recorded (another request, or an earlier one): the flow stops and
    the gate answers from the record."""


@dataclass(slots=True)
class Claim:
    """A key the gate handed to the flow; the flags say how far the flow took it."""

    api_key_id: str
    key: str
    method: str
    path: str
    request_hash: str
    created_at: datetime
    held: bool = False  # the in-progress record is committed (the flow's first transaction)
    completed: bool = False  # the response is committed with it (the flow's last transaction)
    taken: bool = False  # the insert found the key recorded: the gate decides the answer


_INSERT: Final = insert(_table)
_COMPLETE: Final = (
    update(_table)
    .where(_table.c.api_key_id == bindparam("b_api_key_id"), _table.c.key == bindparam("b_key"))
    .values(
        status_code=bindparam("b_status_code"),
        content_type=bindparam("b_content_type"),
        body=bindparam("b_body"),
        completed_at=bindparam("b_completed_at"),
    )
)


def in_progress_values(claim: Claim) -> dict[str, object]:
    return {
        "api_key_id": claim.api_key_id,
        "key": claim.key,
        "method": claim.method,
        "path": claim.path[:PATH_LENGTH],
        "request_hash": claim.request_hash,
        "created_at": claim.created_at,
    }


async def claim_in(session: AsyncSession, claim: Claim) -> None:
    """Insert the in-progress record in the caller's transaction; :class:`KeyTaken` when the
    key is recorded already (the caller's transaction is then unusable and must roll back,
    which raising out of it does)."""
    connection = await session.connection()
    try:
        await connection.execute(_INSERT, in_progress_values(claim))
    except IntegrityError:
        claim.taken = True
        raise KeyTaken(claim.key) from None


async def complete_in(
    session: AsyncSession,
    claim: Claim,
    *,
    status_code: int,
    content_type: str,
    body: bytes,
    at: datetime,
) -> None:
    """Store the response on the claimed record in the caller's transaction."""
    connection = await session.connection()
    await connection.execute(
        _COMPLETE,
        {
            "b_api_key_id": claim.api_key_id,
            "b_key": claim.key,
            "b_status_code": status_code,
            "b_content_type": content_type,
            "b_body": body,
            "b_completed_at": at,
        },
    )
