"""The sweep during outages (CONTRACT.md §6): a payment is expired only after a poll that got an
answer; with no answer at all, only past twice PAYHUB_EXPIRE_AFTER (reason gateway_unreachable).
On SQLite and on PostgreSQL."""

from __future__ import annotations

from tests.conftest import Api
from tests.fakes import Answer
from tests.sweep.helpers import break_poll_events, run_sweep
from tests.timetravel import backdate

DOWN = Answer(503, {"error": "service unavailable"})


def test_a_gateway_down_at_minute_30_does_not_expire_a_paid_payment(swept_hub, gateway):
    hub = swept_hub(PAYHUB_POLL_AFTER="900", PAYHUB_EXPIRE_AFTER="1800", PAYHUB_SWEEP_INTERVAL="60")
    api = Api(hub.test_client())
    created = api.create()
    gateway.pay(created)  # the shopper paid; the gateway's webhook was lost
    backdate(hub, created["id"], 30 * 60 + 1)
    gateway.script(DOWN, path=created["gateway_order_id"])  # and at minute 30 the gateway is down
    run_sweep(hub)
    assert gateway.polls(created) == 1
    payment = api.payment(created["id"])
    assert (payment["status"], payment["version"], payment["events"]) == ("pending", 1, [])

    backdate(hub, created["id"], 60)  # a minute later the gateway is back
    run_sweep(hub)
    payment = api.payment(created["id"])
    assert (payment["status"], payment["amount_received"], payment["version"]) == ("succeeded", 1000, 2)
    assert [(e["source"], e["applied"]) for e in payment["events"]] == [("poll", True)]


def test_a_timeout_or_an_unreadable_answer_is_no_answer_either(swept_hub, gateway):
    hub = swept_hub()
    api = Api(hub.test_client())
    slow, garbled = api.create(), api.create()
    for created in (slow, garbled):
        backdate(hub, created["id"], 121)
    gateway.script(Answer.delayed(2), path=slow["gateway_order_id"])
    gateway.script(Answer(200, "<html>maintenance</html>"), path=garbled["gateway_order_id"])
    run_sweep(hub)
    for created in (slow, garbled):
        assert gateway.polls(created) == 1
        assert api.payment(created["id"])["status"] == "pending"


def test_a_database_error_while_applying_the_last_poll_does_not_expire(swept_hub, gateway):
    hub = swept_hub()
    api = Api(hub.test_client())
    created = api.create()
    backdate(hub, created["id"], 121)  # past EXPIRE_AFTER: this poll is the last one
    repair = break_poll_events(hub)
    run_sweep(hub)  # the gateway answers "processing", but the answer cannot be stored
    assert gateway.polls(created) == 1
    assert api.payment(created["id"])["status"] == "pending"

    repair()
    backdate(hub, created["id"], 30)
    run_sweep(hub)  # answered, stored, still pending: now it expires
    payment = api.payment(created["id"])
    assert payment["status"] == "expired"
    assert [(e["source"], e["applied"]) for e in payment["events"]] == [("poll", False), ("expiry", True)]


def test_with_no_answer_past_twice_expire_after_it_expires_as_gateway_unreachable(swept_hub, gateway):
    hub = swept_hub()  # EXPIRE_AFTER 120 s
    api = Api(hub.test_client())
    created = api.create()
    url = gateway.url
    gateway.stop()  # the gateway is unreachable from here on
    for age in (121, 239 - 121):  # at 121 s and at 239 s: not yet twice EXPIRE_AFTER
        backdate(hub, created["id"], age)
        run_sweep(hub)
        assert api.payment(created["id"])["status"] == "pending"
    assert gateway.polls(created) == 0  # (it never got through)
    backdate(hub, created["id"], 30)  # 269 s, the next sweep
    run_sweep(hub)
    payment = api.payment(created["id"])
    assert payment["status"] == "expired" and payment["final"] is True
    [expiry] = payment["events"]
    assert (expiry["source"], expiry["applied"]) == ("expiry", True)
    assert expiry["reason"] == "gateway_unreachable"  # the event's reason field (CONTRACT.md §2, §6)
    assert expiry["payload"]["reason"] == "gateway_unreachable"
    assert "unreachable" in expiry["payload"]["last_error"]
    assert url not in str(expiry["payload"])


def test_expire_after_below_poll_after_still_expires(swept_hub, gateway):
    hub = swept_hub(PAYHUB_POLL_AFTER="120", PAYHUB_EXPIRE_AFTER="60")
    api = Api(hub.test_client())
    old, young = api.create(), api.create()
    backdate(hub, old["id"], 61)
    backdate(hub, young["id"], 30)
    run_sweep(hub)
    assert (gateway.polls(old), gateway.polls(young)) == (1, 0)
    assert api.payment(old["id"])["status"] == "expired"
    assert api.payment(young["id"])["status"] == "pending"
