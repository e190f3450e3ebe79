"""Which catalog plan each store product is: a TOML file, checked against the catalog at start.

```toml
[app_store]
"com.example.premium.monthly" = "premium_individual_monthly"
[google_play]
"premium:monthly" = "premium_individual_monthly"   # productId:basePlanId
"premium" = "premium_individual_monthly"           # every base plan of the product
```
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tenure.catalog.model import Catalog, Plan
from tenure.subscriptions.channels import Channel

DEFAULT_PATH = Path(__file__).with_name("default_products.toml")


class ProductMapError(ValueError):
    """The mapping file is malformed or names a plan the catalog does not have."""


@dataclass(frozen=True)
class ProductMap:
    plans: Mapping[Channel, Mapping[str, str]] = field(default_factory=dict)
    source: str = "<memory>"

    def plan_for(self, catalog: Catalog, channel: Channel, product_id: str) -> Plan | None:
        """The plan of ``product_id`` (Google: ``product:basePlan``, then ``product``)."""
        known = self.plans.get(channel, {})
        plan_id = known.get(product_id)
        if plan_id is None and ":" in product_id:
            plan_id = known.get(product_id.partition(":")[0])
        if plan_id is None or plan_id not in catalog.plans:
            return None
        return catalog.plans[plan_id]


def load_products(catalog: Catalog, path: str | Path | None = None) -> ProductMap:
    source = Path(path) if path else DEFAULT_PATH
    try:
        raw = tomllib.loads(source.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ProductMapError(f"TENURE_STORE_PRODUCTS {source}: {error}") from None
    plans: dict[Channel, dict[str, str]] = {}
    problems: list[str] = []
    for key, table in raw.items():
        if key not in (Channel.APP_STORE, Channel.GOOGLE_PLAY) or not isinstance(table, dict):
            problems.append(f"[{key}] is not a store table (app_store, google_play)")
            continue
        channel = Channel(key)
        plans[channel] = {}
        for product, plan in table.items():
            if not isinstance(plan, str) or plan not in catalog.plans:
                problems.append(f"[{key}] {product!r}: {plan!r} is not a plan in the catalog")
                continue
            plans[channel][str(product)] = plan
    if problems:
        raise ProductMapError(f"store products {source}: " + "; ".join(problems))
    return ProductMap(plans, str(source))
