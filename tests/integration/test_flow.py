"""Create -> subscribe -> signed callback -> pushed, through the Flask and Socket.IO test clients."""

from __future__ import annotations

from tests.conftest import ON_BOTH_DATABASES
from tests.unit.test_tokens_and_signatures import tamper


def test_created_payment_has_token_checkout_and_version_1(api):
    created = api.create(amount=2500, currency="USD", customer={"name": "Asha", "email": "a@example.com"})
    assert created["id"].startswith("pay_")
    assert created["status"] == "pending" and created["version"] == 1 and created["final"] is False
    assert created["checkout"]["redirect_url"].endswith(f"/sandbox/checkout/{created['gateway_order_id']}")
    assert created["subscribe_token"] and created["status_url"].startswith("http://127.0.0.1:5000/pay/")


def test_subscriber_gets_snapshot_then_each_applied_change(api, socket_client, sandbox_callback):
    created = api.create()
    sio = socket_client()
    ack = sio.emit("subscribe", {"payment_id": created["id"], "token": created["subscribe_token"]}, callback=True)
    assert ack["ok"] is True and ack["payment"]["status"] == "pending" and ack["payment"]["version"] == 1
    assert sandbox_callback(created, "success").status_code == 200
    pushed = [m for m in sio.get_received() if m["name"] == "payment_status"]
    assert len(pushed) == 1
    view = pushed[0]["args"][0]
    assert view["status"] == "succeeded" and view["version"] == 2 and view["final"] is True
    assert view["amount_received"] == 1000
    assert set(view) == {"id", "order_id", "status", "final", "version", "amount", "currency",
                         "amount_received", "updated_at", "expires_at"}


def pushed_views(sio) -> list[dict]:
    return [m["args"][0] for m in sio.get_received() if m["name"] == "payment_status"]


def test_duplicate_callback_changes_nothing_and_pushes_nothing_new(api, socket_client, sandbox_callback):
    created = api.create()
    sio = socket_client()
    sio.emit("subscribe", {"payment_id": created["id"], "token": created["subscribe_token"]}, callback=True)
    first = sandbox_callback(created, "success", event_id="evt_same")
    again = sandbox_callback(created, "success", event_id="evt_same")
    assert first.status_code == 200 and again.status_code == 200
    assert again.get_json()["result"] == "duplicate"
    # A resent applied update repeats the push it made (its first delivery may have died before
    # telling anyone, DESIGN "commit, then tell"): the same view again, nothing new.
    told = pushed_views(sio)
    assert len(told) == 2 and told[0] == told[1] and told[0]["version"] == 2
    # A resent update that was not applied tells nothing.
    late = sandbox_callback(created, "failure", event_id="evt_late")
    assert late.get_json()["result"] == "not_applied"
    assert sandbox_callback(created, "failure", event_id="evt_late").get_json()["result"] == "duplicate"
    assert pushed_views(sio) == []
    payment = api.payment(created["id"])
    assert payment["version"] == 2
    assert [e["reason"] for e in payment["events"]] == [None, "duplicate", "illegal_transition", "duplicate"]


@ON_BOTH_DATABASES
def test_a_push_lost_between_commit_and_publish_is_sent_when_the_gateway_resends(
        api, socket_client, sandbox_callback, monkeypatch):
    """The process dies right after the commit (here: its publish raises), so the gateway gets no
    2xx and resends; a subscriber (on another process, say) must still hear of the change."""
    from payhub import door

    created = api.create()
    sio = socket_client()
    sio.emit("subscribe", {"payment_id": created["id"], "token": created["subscribe_token"]}, callback=True)

    def dies(view):
        raise RuntimeError("process killed between the commit and the publish")

    with monkeypatch.context() as patched:
        patched.setattr(door, "publish", dies)
        assert sandbox_callback(created, "success", event_id="evt_resent").status_code == 500
    assert api.payment(created["id"])["status"] == "succeeded"  # committed, never told
    assert pushed_views(sio) == []
    again = sandbox_callback(created, "success", event_id="evt_resent")
    assert again.status_code == 200 and again.get_json()["result"] == "duplicate"
    assert [(v["status"], v["version"]) for v in pushed_views(sio)] == [("succeeded", 2)]


def test_subscriber_of_another_payment_hears_nothing(api, socket_client, sandbox_callback):
    one, other = api.create(), api.create()
    sio = socket_client()
    sio.emit("subscribe", {"payment_id": other["id"], "token": other["subscribe_token"]}, callback=True)
    sandbox_callback(one, "success")
    assert [m for m in sio.get_received() if m["name"] == "payment_status"] == []


def test_wrong_or_foreign_token_is_refused(api, socket_client):
    one, other = api.create(), api.create()
    sio = socket_client()
    for data in ({"payment_id": one["id"], "token": other["subscribe_token"]},
                 {"payment_id": one["id"], "token": tamper(one["subscribe_token"])},
                 {"payment_id": one["id"]}, "nonsense", None):
        ack = sio.emit("subscribe", data, callback=True)
        assert ack == {"ok": False, "error": "invalid_token"}


def test_one_connection_watches_several_payments(api, socket_client, sandbox_callback):
    one, two = api.create(), api.create()
    sio = socket_client()
    for p in (one, two):
        assert sio.emit("subscribe", {"payment_id": p["id"], "token": p["subscribe_token"]}, callback=True)["ok"]
    sandbox_callback(one, "success")
    sandbox_callback(two, "failure")
    got = {m["args"][0]["id"]: m["args"][0]["status"] for m in sio.get_received() if m["name"] == "payment_status"}
    assert got == {one["id"]: "succeeded", two["id"]: "failed"}
