"""A test key chain shaped like Apple's, signed App Store data, and a fake App Store Server API.

``SignedDataVerifier`` accepts a chain of exactly three certificates ending at a configured
root, whose leaf carries Apple's signing OID (1.2.840.113635.100.6.11.1) and whose
intermediate carries Apple's WWDR intermediate OID (1.2.840.113635.100.6.2.1), checked with
OpenSSL's strict X.509 rules (key identifiers, CA constraints), and an ES256 JWS whose ``x5c``
header carries that chain. :class:`TestChain` makes one; point
``TENURE_APP_STORE_ROOT_CERTIFICATES`` at its root to let a Tenure trust it.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tenure.payments.fakes.server import Request, Response

LEAF_OID: Final = "1.2.840.113635.100.6.11.1"
INTERMEDIATE_OID: Final = "1.2.840.113635.100.6.2.1"
_NOT_BEFORE: Final = datetime(2020, 1, 1, tzinfo=UTC)
_NOT_AFTER: Final = datetime(2099, 1, 1, tzinfo=UTC)


def _name(common: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tenure test, never trust"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        ]
    )


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool,
    oid: str | None,
) -> x509.Certificate:
    issuer_name, issuer_key = issuer or (_name(subject), key)
    public = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(_NOT_BEFORE)
        .not_valid_after(_NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if oid is not None:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier(oid), b"\x05\x00"), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass
class TestChain:
    root: x509.Certificate
    intermediate: x509.Certificate
    leaf: x509.Certificate
    key: ec.EllipticCurvePrivateKey  # the leaf's: signs the JWS

    @classmethod
    def generate(cls) -> TestChain:
        root_key = ec.generate_private_key(ec.SECP256R1())
        mid_key = ec.generate_private_key(ec.SECP256R1())
        leaf_key = ec.generate_private_key(ec.SECP256R1())
        root = _cert("Tenure Test Root CA", root_key, None, ca=True, oid=None)
        mid = _cert(
            "Tenure Test Intermediate", mid_key, (root.subject, root_key), ca=True,
            oid=INTERMEDIATE_OID,
        )  # fmt: skip
        leaf = _cert(
            "Tenure Test Signing", leaf_key, (mid.subject, mid_key), ca=False, oid=LEAF_OID
        )
        return cls(root, mid, leaf, leaf_key)

    @property
    def root_der(self) -> bytes:
        return self.root.public_bytes(serialization.Encoding.DER)

    def x5c(self) -> list[str]:
        return [
            base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
            for cert in (self.leaf, self.intermediate, self.root)
        ]

    def sign(self, payload: dict[str, Any], *, x5c: bool = True) -> str:
        headers: dict[str, Any] = {"x5c": self.x5c()} if x5c else {}
        return jwt.encode(payload, self.key, algorithm="ES256", headers=headers)

    def save(self, directory: Path) -> Path:
        """Write the chain and key (PEM/DER) to ``directory``; returns the root's DER path."""
        directory.mkdir(parents=True, exist_ok=True)
        for name, cert in (
            ("root", self.root),
            ("intermediate", self.intermediate),
            ("leaf", self.leaf),
        ):
            (directory / f"{name}.der").write_bytes(cert.public_bytes(serialization.Encoding.DER))
        pem = self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        (directory / "leaf-key.pem").write_bytes(pem)
        return directory / "root.der"

    @classmethod
    def load(cls, directory: Path) -> TestChain:
        certs = [
            x509.load_der_x509_certificate((directory / f"{name}.der").read_bytes())
            for name in ("root", "intermediate", "leaf")
        ]
        key = serialization.load_pem_private_key(
            (directory / "leaf-key.pem").read_bytes(), password=None
        )
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return cls(certs[0], certs[1], certs[2], key)


def api_signing_key() -> str:
    """A PKCS#8 EC key for the App Store Server API client (the fake accepts any)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


# --- payload builders -------------------------------------------------------------------------


def ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


@dataclass
class AppleApp:
    """The app a test plays: its bundle id, Apple id and environment, and its signing chain."""

    chain: TestChain
    bundle_id: str = "com.tenure.example"
    app_apple_id: int = 1234
    environment: str = "Sandbox"

    def transaction(
        self,
        *,
        original: str,
        transaction: str,
        product: str,
        purchased: datetime,
        expires: datetime,
        price: int | None = 9990,
        currency: str = "USD",
        account_token: str | None = None,
        signed: datetime | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "transactionId": transaction,
            "originalTransactionId": original,
            "webOrderLineItemId": f"w{transaction}",
            "bundleId": self.bundle_id,
            "productId": product,
            "subscriptionGroupIdentifier": "21000000",
            "purchaseDate": ms(purchased),
            "originalPurchaseDate": ms(purchased),
            "expiresDate": ms(expires),
            "quantity": 1,
            "type": "Auto-Renewable Subscription",
            "inAppOwnershipType": "PURCHASED",
            "signedDate": ms(signed or purchased),
            "environment": self.environment,
            "transactionReason": "PURCHASE",
            "storefront": "USA",
            "storefrontId": "143441",
        }
        if price is not None:
            body.update(price=price, currency=currency)
        if account_token is not None:
            body["appAccountToken"] = account_token
        body.update(extra)
        return body

    def renewal(
        self,
        *,
        original: str,
        product: str,
        auto_renew: bool = True,
        signed: datetime,
        **extra: Any,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "originalTransactionId": original,
            "autoRenewProductId": product,
            "productId": product,
            "autoRenewStatus": 1 if auto_renew else 0,
            "signedDate": ms(signed),
            "environment": self.environment,
            "recentSubscriptionStartDate": ms(signed),
        }
        body.update(extra)
        return body

    def notification(
        self,
        type: str,
        subtype: str | None,
        *,
        transaction: dict[str, Any] | None,
        renewal: dict[str, Any] | None,
        signed: datetime,
        status: int | None = None,
        uuid_: str | None = None,
        bundle_id: str | None = None,
    ) -> str:
        data: dict[str, Any] = {
            "environment": self.environment,
            "appAppleId": self.app_apple_id,
            "bundleId": bundle_id or self.bundle_id,
            "bundleVersion": "1.0",
        }
        if transaction is not None:
            data["signedTransactionInfo"] = self.chain.sign(transaction)
        if renewal is not None:
            data["signedRenewalInfo"] = self.chain.sign(renewal)
        if status is not None:
            data["status"] = status
        body: dict[str, Any] = {
            "notificationType": type,
            "notificationUUID": uuid_ or str(uuid.uuid4()),
            "data": data,
            "version": "2.0",
            "signedDate": ms(signed),
        }
        if subtype is not None:
            body["subtype"] = subtype
        return self.chain.sign(body)


# --- the fake App Store Server API ------------------------------------------------------------


@dataclass
class AppStoreFake:
    """``GET /inApps/v1/subscriptions/{id}`` and ``GET /inApps/v2/history/{id}`` over what a
    test set with :meth:`put` (or ``POST /_fake/app_store/subscriptions``)."""

    app: AppleApp
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def put(
        self,
        original: str,
        *,
        status: int,
        transaction: dict[str, Any],
        renewal: dict[str, Any] | None,
        history: list[dict[str, Any]] | None = None,
    ) -> None:
        self.subscriptions[original] = {
            "status": status,
            "transaction": transaction,
            "renewal": renewal,
            "history": history if history is not None else [transaction],
        }

    def _signed_in(self, request: Request) -> bool:
        scheme, _, token = (request.header("authorization") or "").partition(" ")
        if scheme != "Bearer" or not token:
            return False
        claims = jwt.decode(token, options={"verify_signature": False})
        header = jwt.get_unverified_header(token)
        return bool(
            claims.get("aud") == "appstoreconnect-v1"
            and claims.get("bid") == self.app.bundle_id
            and claims.get("exp", 0) > time.time()
            and header.get("alg") == "ES256"
            and header.get("kid")
        )

    def __call__(self, request: Request) -> Response:
        self.calls.append(f"{request.method} {request.path}")
        if request.method == "POST" and request.path == "/_fake/app_store/subscriptions":
            body = request.json()
            self.put(
                body["original_transaction_id"],
                status=int(body["status"]),
                transaction=body["transaction"],
                renewal=body.get("renewal"),
                history=body.get("history"),
            )
            return Response(200, {"ok": True})
        if not self._signed_in(request):
            return Response(401, {"errorCode": 4010000, "errorMessage": "Unauthenticated"})
        parts = request.path.strip("/").split("/")
        if len(parts) != 4 or parts[0] != "inApps":
            return Response(404, {"errorCode": 4040000, "errorMessage": "Not found"})
        found = self._find(parts[3])
        if found is None:
            return Response(
                404, {"errorCode": 4040010, "errorMessage": "Transaction id not found."}
            )
        common = {
            "environment": self.app.environment,
            "bundleId": self.app.bundle_id,
            "appAppleId": self.app.app_apple_id,
        }
        sign = self.app.chain.sign
        if parts[1:3] == ["v1", "subscriptions"]:
            item = {
                "status": found["status"],
                "originalTransactionId": found["transaction"]["originalTransactionId"],
                "signedTransactionInfo": sign(found["transaction"]),
            }
            if found["renewal"] is not None:
                item["signedRenewalInfo"] = sign(found["renewal"])
            groups = [{"subscriptionGroupIdentifier": "21000000", "lastTransactions": [item]}]
            return Response(200, {**common, "data": groups})
        if parts[1:3] == ["v2", "history"]:
            signed = [sign(txn) for txn in found["history"]]
            return Response(
                200, {**common, "revision": "r1", "hasMore": False, "signedTransactions": signed}
            )
        return Response(404, {"errorCode": 4040000, "errorMessage": "Not found"})

    def _find(self, any_id: str) -> dict[str, Any] | None:
        if any_id in self.subscriptions:
            return self.subscriptions[any_id]
        for found in self.subscriptions.values():
            if any(txn["transactionId"] == any_id for txn in found["history"]):
                return found
        return None


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
