"""NATS JetStream publisher: one stream, subjects ``<prefix>.<event type>``, deduplicated.

Every message carries the event id as ``Nats-Msg-Id``, so a message published twice (a lost
ack, a relay that died before marking, a replay) is stored once as long as the repeats fall
within the stream's duplicate window. Publishing is asynchronous with a bounded number of
unacknowledged messages; a message without an ack in time is a failed attempt and is
published again with backoff (``events.retry.BROKER``: quickly, and never given up).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final

import nats
import structlog
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import BadRequestError
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.events.deliveries import Attempt, Claimed, EventRef, delivery_row
from tenure.events.retry import BROKER, RetryPolicy
from tenure.observability import tracing

log = structlog.get_logger(__name__)

KIND: Final = "nats"
MAX_IN_FLIGHT: Final = 256
# Repeats within this window are dropped by the broker; retries (capped at 30 s) fall inside.
DUPLICATE_WINDOW: Final = timedelta(minutes=10)


class JetStreamSink:
    kind = KIND

    def __init__(
        self,
        url: str,
        *,
        stream: str = "TENURE",
        subject_prefix: str = "tenure",
        policy: RetryPolicy = BROKER,
        max_in_flight: int = MAX_IN_FLIGHT,
        ack_timeout: float = 5.0,
    ) -> None:
        self.url = url
        self.stream = stream
        self.subject_prefix = subject_prefix
        self.policy = policy
        self.max_in_flight = max_in_flight
        self.ack_timeout = ack_timeout
        self.lease = timedelta(seconds=max(30.0, ack_timeout * 4))
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._stream_ready = False

    async def route(
        self, session: AsyncSession, events: Sequence[EventRef], now: datetime
    ) -> list[dict[str, Any]]:
        return [delivery_row(KIND, KIND, event, now) for event in events]

    async def prepare(self, session: AsyncSession, claimed: Sequence[Claimed]) -> None:
        return None

    async def _context(self) -> JetStreamContext:
        if self._nc is None or self._nc.is_closed:
            self._nc = await nats.connect(
                self.url,
                connect_timeout=2,
                reconnect_time_wait=0.5,
                max_reconnect_attempts=-1,  # a broker outage is waited out, never fatal
                error_cb=_log_error,
                disconnected_cb=_log_disconnected,
            )
            self._js = self._nc.jetstream(publish_async_max_pending=self.max_in_flight)
            self._stream_ready = False
        assert self._js is not None
        if not self._stream_ready:
            await self._ensure_stream(self._js)
        return self._js

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        config = StreamConfig(
            name=self.stream,
            subjects=[f"{self.subject_prefix}.>"],
            duplicate_window=DUPLICATE_WINDOW.total_seconds(),
        )
        try:
            await js.add_stream(config)
        except BadRequestError:
            await js.update_stream(config)  # exists with older settings
        self._stream_ready = True

    async def send(
        self, claimed: Sequence[Claimed], bodies: dict[int, bytes]
    ) -> dict[int, Attempt]:
        try:
            js = await asyncio.wait_for(self._context(), timeout=self.ack_timeout)
        except Exception as error:  # any connect failure is a failed attempt
            self._stream_ready = False
            return {c.pk: _failed(f"cannot reach NATS: {error!r}") for c in claimed}
        futures: dict[int, asyncio.Future[Any]] = {}
        attempts: dict[int, Attempt] = {}
        for item in claimed:  # in position order: one connection keeps publish order
            try:
                headers = {"Nats-Msg-Id": item.event["id"]}
                tracing.inject(headers, item.event.get("traceparent"))
                futures[item.pk] = await js.publish_async(
                    f"{self.subject_prefix}.{item.event['type']}",
                    bodies[item.pk],
                    wait_stall=self.ack_timeout,
                    headers=headers,
                )
            except Exception as error:  # a broken connection fails this attempt only
                attempts[item.pk] = _failed(f"publish failed: {error!r}")
        if futures:
            await asyncio.wait(futures.values(), timeout=self.ack_timeout)
        for pk, future in futures.items():
            attempts[pk] = _outcome(future, self.ack_timeout)
        if any(not attempt.ok for attempt in attempts.values()):
            self._stream_ready = False  # the stream may be gone (a wiped server); re-check
        return attempts

    async def settle(
        self,
        session: AsyncSession,
        claimed: Sequence[Claimed],
        attempts: dict[int, Attempt],
        now: datetime,
    ) -> None:
        return None

    async def close(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.close()


def _failed(error: str) -> Attempt:
    return Attempt(ok=False, error=error[:500])


def _outcome(future: asyncio.Future[Any], timeout: float) -> Attempt:
    if not future.done():
        future.cancel()  # frees its in-flight slot; the message is published again later
        return _failed(f"no ack within {timeout:g} s")
    if future.cancelled():
        return _failed("publish cancelled")
    error = future.exception()
    if error is not None:
        return _failed(f"not stored: {error!r}")
    return Attempt(ok=True)


async def _log_error(error: Exception) -> None:
    log.warning("nats.error", error=repr(error))


async def _log_disconnected() -> None:
    log.warning("nats.disconnected")
