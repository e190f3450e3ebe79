"""US sales tax by region: a customer's region picks the rate, and invoices name the rule."""

from __future__ import annotations

from tests.support.api import Api


async def test_region_rate_replaces_the_market_rate(api: Api) -> None:
    # 11.99 USD in New York at 8.875 %: tax = round_half_up(1199 * 0.08875 = 106.41) = 106.
    ny = await api.ok(
        "POST",
        "/v1/customers",
        {"external_id": "ny-1", "email": "a@example.com", "market": "US", "region": "ny"},
    )
    assert ny["region"] == "NY"
    sub = await api.subscribe(ny["id"])
    invoice = await api.ok("GET", f"/v1/invoices/{sub['latest_invoice']}")
    assert (invoice["subtotal"], invoice["tax"], invoice["total"]) == (1199, 106, 1305)
    assert (invoice["tax_rate"], invoice["tax_name"]) == ("8.875", "Sales tax (US-NY)")
    # Oregon has no sales tax.
    oregon = await api.ok(
        "POST",
        "/v1/customers",
        {"external_id": "or-1", "email": "b@example.com", "market": "US", "region": "OR"},
    )
    sub = await api.subscribe(oregon["id"])
    invoice = await api.ok("GET", f"/v1/invoices/{sub['latest_invoice']}")
    assert (invoice["tax"], invoice["total"]) == (0, 1199)


async def test_unknown_region_is_refused(api: Api) -> None:
    response = await api.post(
        "/v1/customers",
        {"external_id": "zz-1", "email": "c@example.com", "market": "US", "region": "ZZ"},
    )
    assert (response.status_code, response.json()["code"]) == (422, "unknown_region")
    assert "NY" in response.json()["detail"]
