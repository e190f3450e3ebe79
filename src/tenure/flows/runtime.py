"""What every flow needs: the database, the catalog, the payment provider, real time, and the
payment-outcome handlers. Built by :func:`tenure.flows.assembly.assemble`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from tenure.billing.invoicing import TaxRule
from tenure.catalog.model import Catalog
from tenure.db.engine import Database
from tenure.entitlements.read import EntitlementReader
from tenure.flows.outcomes import OutcomeHandlers
from tenure.kernel.clock import Clock, SystemClock
from tenure.payments.ports import PaymentProvider
from tenure.stores.runtime import Stores
from tenure.testclocks import service as testclocks


@dataclass
class Runtime:
    db: Database
    catalog: Catalog
    provider: PaymentProvider
    clock: Clock = field(default_factory=SystemClock)
    # App Store / Google Play verifiers and clients (tenure.stores); none configured by default.
    stores: Stores = field(default_factory=Stores)
    entitlements: EntitlementReader = field(init=False)
    # Set by the assembly: who reacts to a payment outcome, by billing reason.
    outcomes: OutcomeHandlers = field(init=False)

    def __post_init__(self) -> None:
        self.entitlements = EntitlementReader(self.db, self.catalog)

    async def now_for(self, session: AsyncSession, test_clock_id: str | None) -> datetime:
        """Business time: the test clock's frozen time for its customers, real time otherwise."""
        if test_clock_id is None:
            return self.clock.now()
        clock = await testclocks.get(session, test_clock_id)
        return clock.frozen_time

    async def times_for(
        self, session: AsyncSession, clock_ids: set[str | None]
    ) -> dict[str | None, datetime]:
        frozen = await testclocks.frozen_times(session, {c for c in clock_ids if c is not None})
        times: dict[str | None, datetime] = dict(frozen.items())
        times[None] = self.clock.now()
        return times

    def tax_rule(self, market_code: str, region: str | None = None) -> TaxRule:
        market = self.catalog.market(market_code)
        name = f"{market.tax_name} ({market.code}-{region})" if region else market.tax_name
        return TaxRule(inclusive=market.tax_inclusive, rate=market.rate_for(region), name=name)
