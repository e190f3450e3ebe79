"""The documented sample notifications, sent to a running Tenure (``make run``).

``setup`` writes a test key chain, the keys of the fake store APIs and an environment file
that makes a Tenure trust them (``TENURE_APP_STORE_ROOT_CERTIFICATES`` = the test root; the
Sandbox environment with online checks off). ``send`` plays both stores: it runs the fake App
Store Server API and Play Developer API on 127.0.0.1 while it posts each step of
``samples/app_store.json`` (signed) and ``samples/google_play.json`` (as Pub/Sub pushes), and
prints the customer's subscription and entitlements after each step.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Final

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tenure.payments.fakes.server import FakeServer, Request, Response
from tenure.storefakes.apple import AppleApp, AppStoreFake, TestChain, api_signing_key, ms
from tenure.storefakes.google import PlayFake, purchase, push_body

DEFAULT_DIR: Final = Path(".tenure/stores")
DEFAULT_PORT: Final = 8010
BUNDLE: Final = "com.tenure.example"


def sample(name: str) -> dict[str, Any]:
    text = resources.files("tenure.storefakes").joinpath(f"samples/{name}.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def setup(directory: Path = DEFAULT_DIR, *, port: int = DEFAULT_PORT) -> Path:
    """Keys and an environment file for a Tenure that trusts the sample stores."""
    directory = directory.resolve()
    apple_dir = directory / "apple"
    if not (apple_dir / "root.der").exists():
        TestChain.generate().save(apple_dir)
    api_key = apple_dir / "api-key.p8"
    if not api_key.exists():
        api_key.write_text(api_signing_key())
    account = directory / "google" / "service-account.pem"
    if not account.exists():
        account.parent.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        account.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    fakes = _fakes(directory, port)
    (directory / "google" / "service-account.json").write_text(fakes.play.service_account())
    push = directory / "google" / "push-token"
    if not push.exists():
        push.write_text(secrets.token_urlsafe(24))
    url = f"http://127.0.0.1:{port}"
    env = {
        "TENURE_APP_STORE_BUNDLE_ID": BUNDLE,
        "TENURE_APP_STORE_APP_APPLE_ID": "1234",
        "TENURE_APP_STORE_ENVIRONMENT": "Sandbox",
        "TENURE_APP_STORE_ROOT_CERTIFICATES": str(apple_dir / "root.der"),
        "TENURE_APP_STORE_ONLINE_CHECKS": "false",
        "TENURE_APP_STORE_API_URL": url,
        "TENURE_APP_STORE_API_KEY_FILE": str(api_key),
        "TENURE_APP_STORE_API_KEY_ID": "SAMPLEKEY1",
        "TENURE_APP_STORE_API_ISSUER_ID": "00000000-0000-0000-0000-000000000000",
        "TENURE_GOOGLE_PLAY_PACKAGE_NAME": BUNDLE,
        "TENURE_GOOGLE_PLAY_SERVICE_ACCOUNT_FILE": str(
            directory / "google" / "service-account.json"
        ),
        "TENURE_GOOGLE_PLAY_API_URL": url,
        "TENURE_GOOGLE_PLAY_PUSH_TOKEN_FILE": str(push),
    }
    env_file = directory / "env"
    env_file.write_text("".join(f"{key}={value}\n" for key, value in env.items()))
    return env_file


@dataclass
class SampleFakes:
    apple: AppleApp
    app_store: AppStoreFake
    play: PlayFake
    push_token: str

    def server(self, port: int) -> FakeServer:
        def handler(request: Request) -> Response:
            if request.path.startswith(("/inApps", "/_fake/app_store")):
                return self.app_store(request)
            return self.play(request)

        return FakeServer(handler, port=port)


def _fakes(directory: Path, port: int) -> SampleFakes:
    directory = directory.resolve()
    apple = AppleApp(TestChain.load(directory / "apple"), bundle_id=BUNDLE)
    key = serialization.load_pem_private_key(
        (directory / "google" / "service-account.pem").read_bytes(), password=None
    )
    assert isinstance(key, rsa.RSAPrivateKey)
    play = PlayFake(package=BUNDLE, url=f"http://127.0.0.1:{port}", _account_key=key)
    push = directory / "google" / "push-token"
    return SampleFakes(
        apple, AppStoreFake(apple), play, push.read_text().strip() if push.exists() else ""
    )


def load_fakes(directory: Path = DEFAULT_DIR, *, port: int = DEFAULT_PORT) -> SampleFakes:
    return _fakes(directory, port)


Say = Callable[[str], None]


async def send(
    client: httpx.AsyncClient,
    fakes: SampleFakes,
    *,
    api_key: str,
    customer: str | None = None,
    say: Say = print,
) -> dict[str, list[tuple[str, str, str]]]:
    """Post both sample sequences; returns, per store, (step, status, product) after each."""
    auth = {"Authorization": f"Bearer {api_key}"}

    async def ok(method: str, path: str, body: Any = None, **params: Any) -> Any:
        response = await client.request(method, path, json=body, headers=auth, params=params)
        response.raise_for_status()
        return response.json()

    if customer is None:
        made = await ok(
            "POST",
            "/v1/customers",
            {
                "external_id": f"store-sample-{secrets.token_hex(4)}",
                "email": "listener@example.com",
                "market": "US",
            },
        )
        customer = str(made["id"])
    token = str((await ok("POST", f"/v1/customers/{customer}/store_account_token"))["token"])
    say(f"customer {customer} (store account token {token})")
    seen: dict[str, list[tuple[str, str, str]]] = {"app_store": [], "google_play": []}

    async def show(store: str, step: str) -> None:
        listed = await ok("GET", "/v1/subscriptions", customer=customer)
        mine = [s for s in listed["data"] if s["channel"] == store]
        ent = await ok("GET", f"/v1/customers/{customer}/entitlements")
        status = mine[-1]["status"] if mine else "-"
        seen[store].append((step, status, ent["product"]))
        say(f"  {store:<12} {step:<16} subscription {status:<10} entitlements {ent['product']}")

    base = datetime.now(UTC).replace(microsecond=0) - timedelta(days=111)
    for step, body in _apple_steps(fakes, token, base):
        response = await client.post(
            "/v1/stores/app_store/notifications", json={"signedPayload": body}
        )
        response.raise_for_status()
        await show("app_store", step)
    for step, raw in _google_steps(fakes, token, base):
        response = await client.post(
            "/v1/stores/google_play/notifications",
            content=raw,
            params={"token": fakes.push_token},
            headers={"content-type": "application/json"},
        )
        response.raise_for_status()
        await show("google_play", step)
    events = await ok("GET", "/v1/events", customer=customer, limit=100)
    say(f"  {len(events['data'])} events; see GET /v1/events?customer={customer}")
    return seen


def _apple_steps(fakes: SampleFakes, token: str, base: datetime) -> Iterator[tuple[str, str]]:
    """Each step's signed body; the fake App Store API says the same when it is yielded."""
    spec = sample("app_store")
    apple = fakes.apple
    original = str(secrets.randbelow(10**12) + 10**12)
    for step in spec["steps"]:
        day = timedelta(days=1)
        purchased = base + step["purchase_day"] * day
        signed = base + step["signed_day"] * day
        extra: dict[str, Any] = {}
        if "revoked_day" in step:
            extra = {
                "revocationDate": ms(base + step["revoked_day"] * day),
                "revocationReason": 0,
                "revocationType": "REFUND_FULL",
            }
        txn = apple.transaction(
            original=original,
            transaction=original
            if step["transaction"] == 0
            else f"{original}{step['transaction']}",
            product=spec["product"],
            purchased=purchased,
            expires=purchased + 30 * day,
            price=spec["price_milliunits"],
            currency=spec["currency"],
            account_token=token,
            signed=signed,
            **extra,
        )
        renewal_extra: dict[str, Any] = {}
        if "grace_days" in step:
            renewal_extra["gracePeriodExpiresDate"] = ms(signed + step["grace_days"] * day)
        renewal = apple.renewal(
            original=original,
            product=spec["product"],
            auto_renew=step.get("auto_renew", True),
            signed=signed,
            **renewal_extra,
        )
        fakes.app_store.put(original, status=step["status"], transaction=txn, renewal=renewal)
        body = apple.notification(
            step["notificationType"],
            step["subtype"],
            transaction=txn,
            renewal=renewal,
            signed=signed,
            status=step["status"],
        )
        yield step["name"], body


def _google_steps(
    fakes: SampleFakes, customer_ref: str, base: datetime
) -> Iterator[tuple[str, bytes]]:
    """Each step's push; the fake Play API answers that step's purchase when it is yielded."""
    spec = sample("google_play")
    token = f"sample-token-{secrets.token_urlsafe(16)}"
    orders = f"GPA.{secrets.randbelow(10**4):04d}-{secrets.randbelow(10**4):04d}"
    day = timedelta(days=1)

    def order(n: int | None) -> str | None:
        return None if n is None else (orders if n == 0 else f"{orders}..{n - 1}")

    for step in spec["steps"]:
        price = spec["price"]
        fakes.play.put(
            token,
            purchase(
                state=step["state"],
                product=spec["product"],
                base_plan=spec["base_plan"],
                start=_iso(base),
                expiry=_iso(base + step["expiry_day"] * day),
                order=order(step["order"]),
                auto_renew=step.get("auto_renew", True),
                account=customer_ref,
                acknowledged=token in fakes.play.acknowledged,
                price_units=price["units"],
                price_nanos=price["nanos"],
                currency=price["currencyCode"],
                canceled=step.get("canceled"),
            ),
        )
        raw = push_body(
            message_id=secrets.token_hex(8),
            package=fakes.play.package,
            event_ms=ms(base + step["event_day"] * day),
            notification_type=step.get("notificationType"),
            token=token,
            voided_order=order(step["voided_order"]) if "voided_order" in step else None,
        )
        yield step["name"], raw


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.000Z")
