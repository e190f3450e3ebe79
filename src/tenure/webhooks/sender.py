"""One delivery attempt over HTTP, classified the Standard Webhooks way.

2xx within the timeout is success. Everything else is a failure: 3xx (redirects are not
followed), 410 Gone (and the endpoint is disabled), 429/502/503/504 honour ``Retry-After``.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Final

import httpx

from tenure.events.deliveries import Attempt
from tenure.webhooks.egress import EgressRefused, resolve

TIMEOUT: Final = 10.0
_THROTTLED: Final = frozenset({429, 502, 503, 504})
_DEFAULT_PORTS: Final = {"https": 443, "http": 80}


def classify(status: int, retry_after: str | None) -> Attempt:
    if 200 <= status < 300:
        return Attempt(ok=True, status_code=status)
    if 300 <= status < 400:
        return Attempt(ok=False, status_code=status, error=f"HTTP {status}: redirects are refused")
    wait = _retry_after(retry_after) if status in _THROTTLED else None
    return Attempt(
        ok=False, status_code=status, error=f"HTTP {status}", retry_after=wait, gone=status == 410
    )


def _retry_after(value: str | None) -> timedelta | None:
    if value is None or not value.strip().isdigit():
        return None  # HTTP-date forms are rare from receivers; the backoff applies then
    return timedelta(seconds=int(value.strip()))


async def post(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    allow_private: bool,
    limit_s: float = TIMEOUT,
) -> Attempt:
    """POST ``body`` to ``url`` through the egress check; never raises for delivery failures."""
    try:
        async with asyncio.timeout(limit_s):
            target = httpx.URL(url)
            port = target.port or _DEFAULT_PORTS.get(target.scheme, 443)
            address = await resolve(target.host, port, allow_private=allow_private)
            request = client.build_request(
                "POST",
                target.copy_with(host=address),
                content=body,
                headers={**headers, "host": target.netloc.decode("ascii")},
                # TLS still verifies the certificate against the hostname, not the address.
                extensions={"sni_hostname": target.host},
            )
            response = await client.send(request, stream=True, follow_redirects=False)
            # The body is never read: a receiver cannot make the relay download anything.
            await response.aclose()
    except EgressRefused as error:
        return Attempt(ok=False, error=f"refused: {error}")
    except TimeoutError:
        return Attempt(ok=False, error=f"no answer within {limit_s:g} s")
    except httpx.HTTPError as error:
        return Attempt(ok=False, error=f"{type(error).__name__}: {error}"[:500])
    return classify(response.status_code, response.headers.get("retry-after"))
