"""``python -m tenure.payments.fakes {stripe|adyen} [--port N] [--webhook-url URL]``."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from tenure.payments.fakes.adyen_fake import AdyenFake
from tenure.payments.fakes.server import FakeServer
from tenure.payments.fakes.stripe_fake import StripeFake


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tenure.payments.fakes")
    parser.add_argument("provider", choices=["stripe", "adyen"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument(
        "--webhook-url",
        default=None,
        help="where to send signed webhooks (default: Tenure on 127.0.0.1:8000)",
    )
    args = parser.parse_args(argv)
    env = os.environ
    if args.provider == "stripe":
        handler: StripeFake | AdyenFake = StripeFake(
            api_key=env.get("TENURE_STRIPE_SECRET_KEY", "sk_test_fake"),
            webhook_url=args.webhook_url or "http://127.0.0.1:8000/v1/providers/stripe/webhooks",
            webhook_secrets=[
                s.strip()
                for s in env.get("TENURE_STRIPE_WEBHOOK_SECRET", "whsec_fake").split(",")
                if s.strip()
            ],
        )
        port = args.port or 12111
    else:
        handler = AdyenFake(
            api_key=env.get("TENURE_ADYEN_API_KEY", "adyen_test_key"),
            merchant_account=env.get("TENURE_ADYEN_MERCHANT_ACCOUNT", "TenureTestECOM"),
            hmac_keys=[
                k.strip()
                for k in env.get(
                    "TENURE_ADYEN_HMAC_KEY", "00112233445566778899AABBCCDDEEFF" * 2
                ).split(",")
                if k.strip()
            ],
            webhook_url=args.webhook_url
            or "http://127.0.0.1:8000/v1/providers/adyen/notifications",
            auto_notify=True,
        )
        port = args.port or 12112
    server = FakeServer(handler, host=args.host, port=port)
    sys.stderr.write(f"fake {args.provider} listening on {server.url}\n")
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
