"""Egress safety: webhooks go to public https addresses only, checked where it counts.

A URL is checked when an endpoint is saved (scheme, shape, literal addresses) and again at
every attempt *after DNS resolution*, and the request is then sent to the very address that
was checked (the hostname stays in the Host header and TLS SNI), so a DNS answer that changes
between check and connect (rebinding) cannot reach an internal address. Redirects are never
followed (a 3xx is a failed attempt), so there is no second hop to check.

``TENURE_WEBHOOKS_ALLOW_PRIVATE=true`` lifts both rules for local development.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import socket
from typing import Final

import httpx

from tenure.kernel.errors import InvalidRequest

MAX_URL_LENGTH: Final = 2048
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class EgressRefused(Exception):
    """The destination resolves to an address webhooks must not reach."""


def allow_private_from_env() -> bool:
    value = os.environ.get("TENURE_WEBHOOKS_ALLOW_PRIVATE", "")
    return value.strip().lower() in ("1", "true", "yes", "on")


def forbidden(address: IPAddress) -> bool:
    """Loopback, private, link-local (cloud metadata), shared, reserved, multicast: refused."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


# The shapes inet_aton (and so getaddrinfo, and so delivery) reads as an IPv4 address:
# "2130706433", "0x7f000001", "127.1", "0177.0.0.1", "0".
_LEGACY_IPV4: Final = re.compile(
    r"(?:0[xX][0-9a-fA-F]*|[0-9]+)(?:\.(?:0[xX][0-9a-fA-F]*|[0-9]+)){0,3}"
)
# Seconds registration waits for DNS (delivery resolves again anyway).
RESOLVE_TIMEOUT: Final = 2.0


def normal_host(host: str) -> str:
    """Lower case, without brackets or the trailing dot of a fully qualified name."""
    return host.strip("[]").rstrip(".").lower()


def _literal(host: str) -> IPAddress | None:
    """The address ``host`` names literally, in every form the resolver accepts: dotted
    quads, IPv6 (IPv4-mapped too), and the numeric, hexadecimal, octal and short IPv4 forms."""
    host = normal_host(host)
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _LEGACY_IPV4.fullmatch(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def check_url(url: str, *, allow_private: bool) -> str:
    """Refuse a URL that can never be delivered to safely; returns it normalized."""

    def refuse(message: str, code: str = "invalid_webhook_url") -> InvalidRequest:
        return InvalidRequest(message, code=code, field="url")

    if len(url) > MAX_URL_LENGTH:
        raise refuse(f"url is longer than {MAX_URL_LENGTH} characters")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as error:
        raise refuse(f"url is not a valid URL: {error}") from None
    schemes = ("https", "http") if allow_private else ("https",)
    if parsed.scheme not in schemes:
        raise refuse(
            "url must use https (http is allowed only with TENURE_WEBHOOKS_ALLOW_PRIVATE=true)",
            "webhook_url_not_https",
        )
    if not parsed.host:
        raise refuse("url has no host")
    if parsed.userinfo:
        raise refuse("url must not carry credentials; authenticate receivers by signature")
    if parsed.fragment:
        raise refuse("url must not have a #fragment")
    if not allow_private:
        host = normal_host(parsed.host)
        address = _literal(host)
        local_name = host == "localhost" or host.endswith(".localhost")
        if local_name or (address is not None and forbidden(address)):
            raise refuse(
                f"{parsed.host} is not a public address; webhooks only go to the internet",
                "webhook_url_not_public",
            )
    return str(parsed)


async def resolve(host: str, port: int, *, allow_private: bool) -> str:
    """The address to connect to; every address the name resolves to must be public."""
    literal = _literal(host)
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except OSError as error:
            raise EgressRefused(f"cannot resolve {host}: {error}") from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise EgressRefused(f"{host} has no address")
    if not allow_private:
        bad = [a for a in addresses if forbidden(ipaddress.ip_address(a))]
        if bad:
            raise EgressRefused(f"{host} resolves to {bad[0]}, which is not a public address")
    return addresses[0]


async def check_destination(url: str, *, allow_private: bool) -> str:
    """:func:`check_url`, then the name resolved with the rules delivery applies: a name that
    resolves to a loopback, private or other non-public address is refused at once. A name
    that does not resolve (yet) is accepted; every delivery resolves and checks again."""
    checked = check_url(url, allow_private=allow_private)
    parsed = httpx.URL(checked)
    host = parsed.host
    if allow_private or _literal(host) is not None:
        return checked
    try:
        await asyncio.wait_for(
            resolve(host, parsed.port or 443, allow_private=False), RESOLVE_TIMEOUT
        )
    except EgressRefused as refused:
        if "not a public address" in str(refused):
            raise InvalidRequest(
                f"{host} resolves to an address that is not public; webhooks only go to the "
                "internet",
                code="webhook_url_not_public",
                field="url",
            ) from None
    except TimeoutError:
        pass
    return checked
