"""The ASGI gate in front of every route: bearer authentication, then POST idempotency.

Idempotency follows Stripe's model: the first response to a POST with an ``Idempotency-Key``
is stored and replayed to every retry with the same key and body; the same key with another
body answers 422; a retry while the first is still running answers 409. A 5xx is not stored,
so a retry after a crash runs again (the flows underneath are idempotent by constraint).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import unquote_to_bytes

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError

from tenure.access import idempotency
from tenure.access.audit import ACTING, Acting
from tenure.access.idempotency import CLAIM, Claim
from tenure.access.keys import KeyRing, Principal
from tenure.access.models import IdempotencyRecord
from tenure.access.tokens import InvalidToken, KeysUnavailable, TokenVerifier
from tenure.api.problems import PROBLEM_JSON, problem_bytes
from tenure.api.ratelimit import RateLimits
from tenure.db.engine import Database

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Provider webhooks authenticate with the provider's signature, checked by their routes.
PUBLIC_PATHS: Final = (
    "/healthz",
    "/livez",
    "/readyz",
    "/metrics",
    "/openapi.json",
    "/docs",
    "/v1/providers/",
    # The stores' notifications authenticate with their own signatures (routes/stores.py).
    "/v1/stores/app_store/notifications",
    "/v1/stores/google_play/notifications",
)
ME: Final = "/v1/me"
# How long a stored response is replayed (then the worker prunes it: workers/housekeeping.py).
IDEMPOTENCY_TTL: Final = timedelta(hours=24)
# A first request still "in progress" after this long crashed; a retry may take it over.
STALE_IN_PROGRESS: Final = timedelta(minutes=5)
MAX_KEY_LENGTH: Final = 255
# Routes whose flow claims the Idempotency-Key in its own transactions (_flow_claimed).
FLOW_CLAIMED: Final = frozenset({"/v1/subscriptions"})


class GateState:
    def __init__(
        self,
        database: Database,
        keys: KeyRing,
        tokens: TokenVerifier | None = None,
        limits: RateLimits | None = None,
        idempotency_ttl: timedelta = IDEMPOTENCY_TTL,
    ) -> None:
        self.idempotency_ttl = idempotency_ttl  # a record older than this is forgotten
        self.database = database
        self.keys = keys
        self.tokens = tokens  # end users' JWTs for /v1/me; None when not configured
        self.limits = limits  # request rate limits; None when off


async def _send_problem(
    send: Send,
    status: int,
    code: str,
    title: str,
    detail: str,
    instance: str = "",
    extra_headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    body = problem_bytes(status, code, title, detail, {"instance": instance})
    headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
        *(extra_headers or []),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="tenure"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _has_control_characters(scope: Scope) -> bool:
    path = scope.get("path", "")
    query = unquote_to_bytes(scope.get("query_string", b""))
    return any(ord(c) < 0x20 or ord(c) == 0x7F for c in path) or any(
        b < 0x20 or b == 0x7F for b in query
    )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def gate(app: ASGIApp, state_of: Callable[[], GateState | None]) -> ASGIApp:
    # HTTP metrics, the access log and the request id are recorded outside Litestar, for every
    # request (observability/http.py).
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(PUBLIC_PATHS) or path == "/":
            await app(scope, receive, send)
            return
        if _has_control_characters(scope):
            await _send_problem(
                send,
                400,
                "invalid_characters",
                "Invalid characters",
                "the path or query string contains control characters (such as NUL)",
                path,
            )
            return
        state = state_of()
        if state is None:
            await _send_problem(send, 503, "starting", "Starting", "Tenure is starting up")
            return
        admitted: Admitted | None = scope.get(ADMITTED)  # by the fast path (api/fastpath.py)
        if admitted is None:
            admitted = await admit(scope, send, state)
            if admitted is None:
                return  # refused, and answered
        principal, key_id = admitted.principal, admitted.key_id
        if admitted.headers:
            send = with_headers(send, admitted.headers)
        scope.setdefault("state", {}).update(api_key_id=key_id, principal=principal)
        # The role behind this request, for audit records (a route adds the reason).
        acting = ACTING.set(Acting(role=principal.role, reason=None))
        try:
            idempotency_key = _header(scope, b"idempotency-key")
            if scope.get("method") == "POST" and idempotency_key is not None:
                await _idempotent(app, scope, receive, send, state, key_id, idempotency_key)
                return
            await app(scope, receive, send)
        finally:
            ACTING.reset(acting)

    return middleware


@dataclass(frozen=True, slots=True)
class Admitted:
    """A caller who passed authentication and the rate limit."""

    principal: Principal
    key_id: str  # the idempotency and rate-limit owner: the key id, or a digest of the user
    headers: list[tuple[bytes, bytes]]  # the rate-limit headers every answer carries


# Where the fast path leaves an ``Admitted`` when it hands a request on to the full path, so
# the gate does not authenticate or count it twice (an ASGI scope extension key).
ADMITTED: Final = "tenure.admitted"


async def admit(scope: Scope, send: Send, state: GateState) -> Admitted | None:
    """Authentication and the rate limit: the one function the gate and the entitlement fast
    path (api/fastpath.py) both call. ``None`` after answering the refusal (401, 503, 429)."""
    path = scope.get("path", "")
    try:
        principal = await _authenticate(scope, state)
    except InvalidToken as error:
        await _send_problem(send, 401, "invalid_token", "Unauthorized", str(error), path)
        return None
    except KeysUnavailable as error:
        await _send_problem(
            send,
            503,
            "identity_provider_unavailable",
            "Service unavailable",
            f"{error}; retry shortly",
            path,
            [(b"retry-after", b"5")],
        )
        return None
    if principal is None:
        await _send_problem(
            send,
            401,
            "unauthorized",
            "Unauthorized",
            "send your API key as 'Authorization: Bearer <key>'",
            path,
        )
        return None
    # Idempotency records are per caller: an end user's are under a digest of the subject.
    key_id = principal.id if principal.kind == "key" else _user_key(principal.id)
    if state.limits is None:
        return Admitted(principal, key_id, [])
    decision = await state.limits.check(scope.get("method", "GET"), path, key_id)
    if decision is None:
        return Admitted(principal, key_id, [])
    if not decision.allowed:
        await _send_problem(
            send,
            429,
            "rate_limited",
            "Too many requests",
            f"this caller's budget for these routes is {decision.limit} requests at "
            f"once; retry after the Retry-After seconds",
            path,
            decision.headers(),
        )
        return None
    return Admitted(principal, key_id, decision.headers())


def with_headers(send: Send, headers: list[tuple[bytes, bytes]]) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *headers]}
        await send(message)

    return sending


def _user_key(subject: str) -> str:
    return "usr_" + hashlib.sha256(subject.encode()).hexdigest()[:32]


async def _authenticate(scope: Scope, state: GateState) -> Principal | None:
    authorization = _header(scope, b"authorization") or ""
    scheme, _, secret = authorization.partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        return None
    path = scope.get("path", "")
    if (path == ME or path.startswith(ME + "/")) and secret.count(".") == 2:
        # An end user's JWT (API keys never contain dots): only under /v1/me.
        if state.tokens is None:
            raise InvalidToken(
                "end-user tokens are not configured (TENURE_JWT_JWKS_URL, TENURE_JWT_ISSUER, "
                "TENURE_JWT_AUDIENCE)"
            )
        subject = await state.tokens.verify(secret)
        return Principal("user", subject, None, frozenset())
    return await state.keys.resolve(secret)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _idempotent(
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    state: GateState,
    key_id: str,
    key: str,
) -> None:
    if not key or len(key) > MAX_KEY_LENGTH:
        await _send_problem(
            send,
            400,
            "invalid_idempotency_key",
            "Invalid Idempotency-Key",
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters",
        )
        return
    body = await _read_body(receive)
    digest = hashlib.sha256(
        b"\0".join(
            [scope["method"].encode(), scope["path"].encode(), scope.get("query_string", b""), body]
        )
    ).hexdigest()
    claim = Claim(key_id, key, scope["method"], scope["path"], digest, now())
    if scope["path"].rstrip("/") in FLOW_CLAIMED and await _flow_claimed(
        app, scope, send, state, claim, body
    ):
        return
    verdict = await _claim(state.database, key_id, key, scope, digest, state.idempotency_ttl)
    if isinstance(verdict, IdempotencyRecord):
        await _replay(send, verdict)
        return
    if verdict is not None:
        await _send_problem(send, *verdict)
        return
    captured = _Captured()

    async def replay_receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def capture_send(message: Message) -> None:
        captured.take(message)
        await send(message)

    try:
        await app(scope, replay_receive, capture_send)
    finally:
        await _finish(state.database, key_id, key, captured)


async def _flow_claimed(
    app: ASGIApp, scope: Scope, send: Send, state: GateState, claim: Claim, body: bytes
) -> bool:
    """Run a route whose flow claims the key in its own first transaction and stores the
    response with its last one (``tenure.access.idempotency``); ``False`` when the key was
    already recorded, and the gate must answer from the record as it always does.

    The response is held back until it is known to be the answer: when the flow stored
    nothing (a 4xx before its first transaction), it is stored here, and a key recorded
    meanwhile by another request wins."""
    scope["state"][CLAIM] = claim
    messages: list[Message] = []
    captured = _Captured()

    async def replay_receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def hold(message: Message) -> None:
        captured.take(message)
        messages.append(message)

    try:
        await app(scope, replay_receive, hold)
    except BaseException:
        if claim.held and not claim.completed:
            await _finish(state.database, claim.api_key_id, claim.key, captured)
        raise
    finally:
        scope["state"].pop(CLAIM, None)
    if claim.taken:
        return False
    if claim.held and not claim.completed:
        await _finish(state.database, claim.api_key_id, claim.key, captured)
    elif (
        not claim.held
        and captured.status < 500
        and not await _store_answer(state.database, claim, captured)
    ):
        return False
    for message in messages:
        await send(message)
    return True


@dataclass
class _Captured:
    """The answer an idempotent request gave, as it went out (stored with its key)."""

    status: int = 500
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""

    def take(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
            self.headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")

    @property
    def content_type(self) -> str:
        return next(
            (v.decode("latin-1") for k, v in self.headers if k.lower() == b"content-type"),
            "application/json",
        )


async def _store_answer(database: Database, claim: Claim, captured: _Captured) -> bool:
    """Record a response the flow did not store (one transaction); ``False`` if the key was
    recorded by another request in the meantime."""
    try:
        async with database.transaction() as session:
            await idempotency.claim_in(session, claim)
            await idempotency.complete_in(
                session,
                claim,
                status_code=captured.status,
                content_type=captured.content_type,
                body=captured.body,
                at=now(),
            )
    except idempotency.KeyTaken:
        return False
    return True


def now() -> datetime:
    return datetime.now(UTC)


async def _claim(
    database: Database, key_id: str, key: str, scope: Scope, digest: str, ttl: timedelta
) -> IdempotencyRecord | tuple[int, str, str, str] | None:
    now = datetime.now(UTC)
    async with database.transaction() as session:
        record = await session.get(IdempotencyRecord, (key_id, key))
        if record is None:
            session.add(
                IdempotencyRecord(
                    api_key_id=key_id,
                    key=key,
                    method=scope["method"],
                    path=scope["path"][:500],  # the column's size; the digest has all of it
                    request_hash=digest,
                    created_at=now,
                )
            )
            try:
                await session.flush()
            except IntegrityError:
                return (
                    409,
                    "idempotency_key_in_use",
                    "Conflict",
                    "a request with this Idempotency-Key is in progress; retry shortly",
                )
            return None
        if now - record.created_at >= ttl:  # expired: the key is free again
            record.method, record.path, record.request_hash = scope["method"], scope["path"], digest
            record.created_at, record.completed_at = now, None
            record.status_code = record.content_type = record.body = None
            return None
        if record.request_hash != digest:
            return (
                422,
                "idempotency_key_reused",
                "Idempotency-Key reused",
                "this Idempotency-Key was used with a different request; use a new key",
            )
        if record.completed_at is not None:
            return record
        if now - record.created_at < STALE_IN_PROGRESS:
            return (
                409,
                "idempotency_key_in_use",
                "Conflict",
                "a request with this Idempotency-Key is in progress; retry shortly",
            )
        record.created_at = now  # the first attempt crashed: this retry takes over
        return None


async def _replay(send: Send, record: IdempotencyRecord) -> None:
    body = record.body or b""
    headers = [
        (b"content-type", (record.content_type or "application/json").encode()),
        (b"content-length", str(len(body)).encode()),
        (b"idempotent-replayed", b"true"),
    ]
    await send({"type": "http.response.start", "status": record.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _finish(database: Database, key_id: str, key: str, captured: _Captured) -> None:
    status = captured.status
    async with database.transaction() as session:
        where = (IdempotencyRecord.api_key_id == key_id, IdempotencyRecord.key == key)
        if status >= 500:
            await session.execute(delete(IdempotencyRecord).where(*where))
            return
        content_type = captured.content_type
        await session.execute(
            update(IdempotencyRecord)
            .where(*where)
            .values(
                status_code=status,
                content_type=content_type,
                body=captured.body,
                completed_at=datetime.now(UTC),
            )
        )
