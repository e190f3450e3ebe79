"""Every module's tables, gathered for Alembic."""

from tenure.access import models as api_models
from tenure.billing import models as billing_models
from tenure.customers import models as customer_models
from tenure.db.base import Base
from tenure.dunning import models as dunning_models
from tenure.entitlements import models as entitlement_models
from tenure.events import delivery_models
from tenure.events import models as event_models
from tenure.households import models as household_models
from tenure.payments import methods as payment_method_models
from tenure.payments import models as payment_models
from tenure.stores import models as store_models
from tenure.subscriptions import models as subscription_models
from tenure.testclocks import models as clock_models
from tenure.webhooks import models as webhook_models

MODULES = (
    api_models,
    billing_models,
    customer_models,
    dunning_models,
    entitlement_models,
    event_models,
    household_models,
    payment_method_models,
    payment_models,
    store_models,
    subscription_models,
    clock_models,
    delivery_models,
    webhook_models,
)
metadata = Base.metadata
