"""Which once-per-customer offers (trials, intro prices) a customer has already used."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.subscriptions.models import IntroRedemption, TrialRedemption


@dataclass(frozen=True, slots=True)
class UsedOffers:
    trial_families: frozenset[str]
    intro_families: frozenset[str]


async def used_by(session: AsyncSession, customer_id: str) -> UsedOffers:
    trials = await session.scalars(
        select(TrialRedemption.family).where(TrialRedemption.customer_id == customer_id)
    )
    intros = await session.scalars(
        select(IntroRedemption.family).where(IntroRedemption.customer_id == customer_id)
    )
    return UsedOffers(frozenset(trials.all()), frozenset(intros.all()))


async def release_trial(session: AsyncSession, subscription_id: str) -> None:
    """A subscription canceled before it started never used its trial: the customer may still
    take that family's trial later."""
    await session.execute(
        delete(TrialRedemption).where(TrialRedemption.subscription_id == subscription_id)
    )
