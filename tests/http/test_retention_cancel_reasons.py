"""Cancel with a reason and a comment: stored, shown, carried in events, refused when unsafe."""

from __future__ import annotations

from tests.support.api import Api


async def test_reason_and_comment_are_kept_and_carried_until_reactivate(api: Api) -> None:
    clock = await api.clock("2025-01-31T10:00:00Z")
    customer = await api.customer(clock)
    sub = (await api.subscribe(customer))["id"]
    body = await api.ok(
        "POST",
        f"/v1/subscriptions/{sub}/cancel",
        {"reason": "too_expensive", "comment": "  Costs more than my phone plan  "},
    )
    assert body["cancellation"] == {
        "reason": "too_expensive",
        "comment": "Costs more than my phone plan",
    }
    canceled = await api.events(type="subscription.canceled", subscription=sub)
    assert canceled[-1]["data"]["cancellation"]["reason"] == "too_expensive"
    history = await api.ok("GET", f"/v1/subscriptions/{sub}/history")
    assert history["data"][-1]["reason"] == "too_expensive"

    back = await api.ok("POST", f"/v1/subscriptions/{sub}/reactivate")
    assert back["cancellation"] is None

    await api.ok("POST", f"/v1/subscriptions/{sub}/cancel", {"reason": "not_using"})
    await api.advance(clock, "2025-03-01T10:00:00Z")
    expired = await api.events(type="subscription.expired", subscription=sub)
    assert expired[-1]["data"]["cancellation"] == {"reason": "not_using", "comment": None}
    ended = await api.subscription(sub)
    assert (ended["status"], ended["cancellation"]["reason"]) == ("expired", "not_using")


async def test_cancel_now_with_a_reason_and_without_one(api: Api) -> None:
    customer = await api.customer()
    sub = (await api.subscribe(customer))["id"]
    body = await api.ok(
        "POST",
        f"/v1/subscriptions/{sub}/cancel",
        {"at_period_end": False, "reason": "switching_service", "comment": "Moving on"},
    )
    assert body["status"] == "canceled"
    assert body["cancellation"]["reason"] == "switching_service"
    other = (await api.subscribe(await api.customer()))["id"]
    plain = await api.ok("POST", f"/v1/subscriptions/{other}/cancel")
    assert plain["cancellation"] is None
    assert (await api.events(type="subscription.canceled", subscription=other))[-1]["data"][
        "cancellation"
    ] is None


async def test_unsafe_or_invalid_reasons_are_refused_and_change_nothing(api: Api) -> None:
    customer = await api.customer()
    sub = (await api.subscribe(customer))["id"]
    path = f"/v1/subscriptions/{sub}/cancel"
    cases = [
        ({"reason": "other", "comment": "my card 4242 4242 4242 4242 was charged"}, 422,
         "card_number_not_accepted"),
        ({"reason": "other", "comment": "x" * 501}, 422, "invalid_request"),
        ({"reason": "bored"}, 422, "invalid_request"),
        ({"comment": "no reason given"}, 422, "invalid_cancel_reason"),
        ({"reason": "other", "comment": "tab\there"}, 422, "invalid_request"),
    ]  # fmt: skip
    for body, status, code in cases:
        response = await api.post(path, body)
        assert (response.status_code, response.json()["code"]) == (status, code), body
    after = await api.subscription(sub)
    assert (after["cancel_at_period_end"], after["cancellation"]) == (False, None)
    assert await api.events(type="subscription.canceled", subscription=sub) == []
    ok = await api.ok("POST", path, {"reason": "other", "comment": "x" * 500})
    assert len(ok["cancellation"]["comment"]) == 500
