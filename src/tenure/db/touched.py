"""Which customers a transaction changed, so projections can be brought up to date before COMMIT.

Write paths call :func:`touch_customers`; the projection hook (registered on the
:class:`~tenure.db.engine.Database` by the flows layer) takes the set with
:func:`take_touched` and recomputes those customers in the same transaction. The set lives in
``session.info``, so it is per transaction and needs no wiring between modules.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

_KEY: Final = "tenure.touched_customers"
_DONE: Final = "tenure.recomputed_customers"


def touch_customers(session: AsyncSession, customer_ids: Iterable[str]) -> None:
    touched: set[str] = session.info.setdefault(_KEY, set())
    touched.update(customer_ids)


def take_touched(session: AsyncSession) -> set[str]:
    """The customers touched since the last call."""
    touched: set[str] = session.info.pop(_KEY, set())
    return touched


def note_recomputed(session: AsyncSession, customer_ids: Iterable[str]) -> None:
    done: set[str] = session.info.setdefault(_DONE, set())
    done.update(customer_ids)


def recomputed(session: AsyncSession) -> set[str]:
    """Every customer the projection hook handled in this transaction (for after-commit work)."""
    done: set[str] = session.info.get(_DONE, set())
    return done
