"""Metadata on customers, subscriptions and invoices: set, merged, removed, bounded, and carried
in every response and event payload."""

from __future__ import annotations

from tests.support.api import Api


async def test_customer_metadata_is_set_merged_removed_and_evented(api: Api) -> None:
    created = await api.ok(
        "POST",
        "/v1/customers",
        {
            "external_id": "meta-1",
            "email": "ada@example.com",
            "market": "SE",
            "metadata": {"crm_id": "A-1001", "segment": "student"},
        },
    )
    assert created["metadata"] == {"crm_id": "A-1001", "segment": "student"}
    updated = await api.ok(
        "POST",
        f"/v1/customers/{created['id']}",
        {"metadata": {"segment": "", "tier": "gold"}, "email": "ada@example.org"},
    )
    assert updated["metadata"] == {"crm_id": "A-1001", "tier": "gold"}
    assert updated["email"] == "ada@example.org"
    again = await api.ok("GET", f"/v1/customers/{created['id']}")
    assert again["metadata"] == updated["metadata"]
    [event] = await api.events(type="customer.updated", customer=created["id"])
    assert event["data"]["metadata"] == {"crm_id": "A-1001", "tier": "gold"}
    assert sorted(event["data"]["changed"]) == ["email", "metadata"]
    [first] = await api.events(type="customer.created", customer=created["id"])
    assert first["data"]["metadata"] == {"crm_id": "A-1001", "segment": "student"}
    # Nothing changed: no event.
    await api.ok("POST", f"/v1/customers/{created['id']}", {"metadata": {"tier": "gold"}})
    assert len(await api.events(type="customer.updated", customer=created["id"])) == 1


async def test_subscription_and_invoice_metadata_reach_responses_and_events(api: Api) -> None:
    customer = await api.customer()
    sub = await api.ok(
        "POST",
        "/v1/subscriptions",
        {
            "customer": customer,
            "plan": "premium_individual_monthly",
            "payment_method": "pm_card_visa",
            "metadata": {"campaign": "spring"},
        },
    )
    assert sub["metadata"] == {"campaign": "spring"}
    created = await api.events(type="subscription.created", subscription=sub["id"])
    assert created[0]["data"]["metadata"] == {"campaign": "spring"}
    changed = await api.ok(
        "POST", f"/v1/subscriptions/{sub['id']}", {"metadata": {"campaign": "", "ref": "x1"}}
    )
    assert changed["metadata"] == {"ref": "x1"}
    [updated] = await api.events(type="subscription.updated", subscription=sub["id"])
    assert updated["data"]["metadata"] == {"ref": "x1"}
    listed = await api.ok("GET", "/v1/subscriptions", customer=customer)
    assert listed["data"][0]["metadata"] == {"ref": "x1"}

    invoice = await api.ok(
        "POST", f"/v1/invoices/{sub['latest_invoice']}", {"metadata": {"po_number": "PO-7"}}
    )
    assert (invoice["metadata"], invoice["status"]) == ({"po_number": "PO-7"}, "paid")
    [event] = await api.events(type="invoice.updated", subscription=sub["id"])
    assert event["data"]["metadata"] == {"po_number": "PO-7"}
    # Events of one subscription stay numbered 1, 2, 3 ... with the metadata events in them.
    sequences = [e["sequence"] for e in await api.events(subscription=sub["id"])]
    assert sequences == list(range(1, len(sequences) + 1))


async def test_metadata_beyond_the_limits_is_refused_and_changes_nothing(api: Api) -> None:
    customer = await api.customer()
    path = f"/v1/customers/{customer}"
    too_many = {f"k{i}": "v" for i in range(51)}
    cases = [
        {"metadata": too_many},
        {"metadata": {"k" * 41: "v"}},
        {"metadata": {"key": "v" * 501}},
        {"metadata": {"": "v"}},
        {"metadata": {"a[b]": "v"}},
        {"metadata": {"key": "line\nbreak"}},
        {"metadata": {"key": 7}},
        {"metadata": ["not", "an", "object"]},
    ]
    for body in cases:
        response = await api.post(path, body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["code"] in ("invalid_request", "invalid_metadata")
    assert (await api.ok("GET", path))["metadata"] == {}
    # 50 stored keys plus one more through a merge is also too many.
    fifty = {f"k{i}": "v" for i in range(50)}
    await api.ok("POST", path, {"metadata": fifty})
    response = await api.post(path, {"metadata": {"one_more": "v"}})
    assert (response.status_code, response.json()["code"]) == (422, "invalid_metadata")
    assert (await api.ok("GET", path))["metadata"] == fifty
