"""Copy the parts of the providers' published fixtures the fake servers use into the package.

``python -m tenure.payments.fakes.extract /path/to/shared/fixtures`` rewrites ``data/``: Stripe's
example objects for the resources the fake serves (stripe/openapi ``fixtures3.json``) and the
Adyen schemas the fake validates against, with every schema they reference
(Adyen/adyen-openapi ``CheckoutService-v71.json``, ``Webhooks-v1.json``). Both are MIT-licensed;
their licences are copied next to them.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"
STRIPE_RESOURCES = (
    "payment_intent",
    "charge",
    "refund",
    "customer",
    "payment_method",
    "event",
    "dispute",
)
CHECKOUT_ROOTS = (
    "PaymentRequest",
    "PaymentResponse",
    "PaymentRefundRequest",
    "PaymentRefundResponse",
    "PaymentDetailsRequest",
    "PaymentDetailsResponse",
    "ListStoredPaymentMethodsResponse",
    "ServiceError",
)
WEBHOOK_ROOTS = (
    "AuthorisationNotificationRequest",
    "RefundNotificationRequest",
    "ChargebackNotificationRequest",
    "NotificationOfChargebackNotificationRequest",
    "ChargebackReversedNotificationRequest",
    "SecondChargebackNotificationRequest",
    "RecurringContractNotificationRequest",
)


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def closure(schemas: dict[str, Any], roots: tuple[str, ...]) -> dict[str, Any]:
    todo, done = list(roots), {}
    while todo:
        name = todo.pop()
        if name in done:
            continue
        done[name] = schemas[name]
        todo.extend(_refs(schemas[name]) - set(done))
    return dict(sorted(done.items()))


def main(source: Path) -> None:
    DATA.mkdir(exist_ok=True)
    resources = json.loads((source / "stripe" / "fixtures3.json").read_text())["resources"]
    (DATA / "stripe_fixtures.json").write_text(
        json.dumps({name: resources[name] for name in STRIPE_RESOURCES}, indent=1) + "\n"
    )
    shutil.copyfile(source / "stripe" / "LICENSE", DATA / "LICENSE-stripe-openapi")
    checkout = json.loads((source / "adyen" / "CheckoutService-v71.json").read_text())
    webhooks = json.loads((source / "adyen" / "Webhooks-v1.json").read_text())
    subset = {
        "checkout": closure(checkout["components"]["schemas"], CHECKOUT_ROOTS),
        "webhooks": closure(webhooks["components"]["schemas"], WEBHOOK_ROOTS),
    }
    (DATA / "adyen_schemas.json").write_text(json.dumps(subset, indent=1) + "\n")
    shutil.copyfile(source / "adyen" / "LICENSE", DATA / "LICENSE-adyen-openapi")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/fixtures"))
