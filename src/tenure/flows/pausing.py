"""The pause as a span of a web subscription: how it begins, warns and ends.

Shared by the pause request (:mod:`tenure.flows.pause`) and the due batch
(:mod:`tenure.flows.due`). While a web subscription is ``paused`` its current period *is* the
pause: ``current_period_start`` is when it began and ``current_period_end`` when it resumes, so
the due batch finds the resume with the same ``next_action_at`` query as a renewal and a cancel
at period end ends it there instead. Nothing is billed for that span; the resume moves the
billing anchor to the resume moment and the renewal bills ``[resume, resume + 1 period)``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tenure.flows.unit import UnitOfWork
from tenure.subscriptions.changes import ChangeKind
from tenure.subscriptions.record import Sub, pause_of
from tenure.subscriptions.state import Action


def begin(
    uow: UnitOfWork,
    sub: Sub,
    *,
    starts_at: datetime,
    resumes_at: datetime,
    now: datetime,
    reason: str,
    credited: int = 0,
) -> None:
    """``sub`` is paused from ``starts_at`` until ``resumes_at``: ``subscription.paused``."""
    rule = uow.runtime.catalog.retention.pause_rule(sub.market, sub.product_id)
    sub.current_period_start, sub.current_period_end = starts_at, resumes_at
    notice = resumes_at - timedelta(days=rule.notice_days)
    sub.pause_notice_at = notice if rule.notice_days > 0 and notice > starts_at else None
    uow.record(sub.apply(Action.PAUSE, at=now, actor=uow.actor, reason=reason))
    uow.emit(sub.event("subscription.paused", at=now, credited=credited))


def start_scheduled(uow: UnitOfWork, sub: Sub, now: datetime) -> None:
    """The period ended with a pause scheduled: it starts instead of a renewal."""
    change = sub.pending.pop(ChangeKind.PAUSE)
    uow.close_change(change.id, status="applied", at=now)
    resumes_at = change.resumes_at or sub.current_period_end
    begin(
        uow,
        sub,
        starts_at=sub.current_period_end,
        resumes_at=resumes_at,
        now=now,
        reason="scheduled",
    )


def notice(uow: UnitOfWork, sub: Sub, now: datetime) -> None:
    """``subscription.pause_ending``: the subscription resumes and bills soon (once a pause)."""
    sub.pause_notice_at = None
    sub.reschedule(now)
    uow.emit(sub.event("subscription.pause_ending", at=now))


def resume(uow: UnitOfWork, sub: Sub, now: datetime, *, reason: str) -> dict[str, Any] | None:
    """Leave the pause at its end (``current_period_end``): the anchor moves there, so the
    renewal that follows bills from the resume. Returns the pause that ended, for the event."""
    ended = pause_of(sub)
    sub.billing_anchor = sub.current_period_end
    sub.pause_notice_at = None
    uow.record(sub.apply(Action.RESUME, at=now, actor=uow.actor, reason=reason))
    return ended


def resumed_event(uow: UnitOfWork, sub: Sub, now: datetime, ended: dict[str, Any] | None) -> None:
    uow.emit(sub.event("subscription.resumed", at=now, ended_pause=ended))
