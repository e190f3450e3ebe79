"""Issue 10: webhook URLs are refused at registration by the rules delivery applies.

The resolver reads ``2130706433``, ``0x7f000001``, ``127.1`` and ``0`` as loopback or
"this host" addresses; IPv6-mapped IPv4 and trailing dots name the same places. Delivery
refused them; registration accepted them. A name that resolves to a private address is
refused too (DNS is asked before the transaction, with a bound).
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from tenure.webhooks.egress import _literal
from tests.http.test_bad_input import assert_problem
from tests.support.api import AUTH, Api

PATH = "/v1/webhook_endpoints"
HIDDEN = [
    "https://2130706433/hook",
    "https://0x7f000001/hook",
    "https://0x7f.1/hook",
    "https://127.1/hook",
    "https://0/hook",
    "https://10.1/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://[::ffff:a9fe:a9fe]/hook",  # 169.254.169.254, cloud metadata
    "https://127.0.0.1./hook",
    "https://localhost./hook",
    "https://LOCALHOST/hook",
    "https://api.localhost./hook",
]


@pytest.mark.parametrize("url", HIDDEN)
async def test_hidden_local_addresses_are_refused_at_registration(api: Api, url: str) -> None:
    response = await api.post(PATH, {"url": url})
    assert_problem(response, 422, "webhook_url_not_public")


async def test_octal_forms_are_refused_too(api: Api) -> None:
    response = await api.post(PATH, {"url": "https://0177.0.0.1/hook"})
    assert response.status_code == 422
    assert response.json()["code"] in ("webhook_url_not_public", "invalid_webhook_url")
    assert str(_literal("0177.0.0.1")) == "127.0.0.1"


@pytest.mark.parametrize(
    ("host", "address"),
    [("2130706433", "127.0.0.1"), ("0x7f000001", "127.0.0.1"), ("127.1", "127.0.0.1")],
)
def test_numeric_forms_read_as_the_resolver_reads_them(host: str, address: str) -> None:
    assert str(_literal(host)) == address
    assert socket.gethostbyname(host) == address  # the resolver agrees


def test_names_are_not_numeric_forms() -> None:
    assert _literal("hooks.example.com") is None
    assert _literal("1e100.net") is None


async def test_a_name_resolving_to_a_private_address_is_refused(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = asyncio.BaseEventLoop.getaddrinfo

    async def fake(self: Any, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "internal.example.com":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", port))]
        if host == "public.example.com":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]
        return await real(self, host, port, *args, **kwargs)

    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", fake)
    refused = await api.post(PATH, {"url": "https://internal.example.com/hook"})
    assert_problem(refused, 422, "webhook_url_not_public")
    created = await api.post(PATH, {"url": "https://public.example.com/hook"})
    assert created.status_code == 201, created.text
    moved = await api.client.patch(
        f"{PATH}/{created.json()['id']}",
        json={"url": "https://internal.example.com/other"},
        headers=AUTH,
    )
    assert_problem(moved, 422, "webhook_url_not_public")
