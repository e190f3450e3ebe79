"""Every module's tables, gathered for Alembic."""

from tenure.access import models as api_models
from tenure.billing import models as billing_models
from tenure.customers import models as customer_models
from tenure.db.base import Base
from tenure.entitlements import models as entitlement_models
from tenure.events import models as event_models
from tenure.households import models as household_models
from tenure.payments import models as payment_models
from tenure.subscriptions import models as subscription_models
from tenure.testclocks import models as clock_models

MODULES = (
    api_models,
    billing_models,
    customer_models,
    entitlement_models,
    event_models,
    household_models,
    payment_models,
    subscription_models,
    clock_models,
)
metadata = Base.metadata
