"""The sweep (CONTRACT.md §6) and POST /refresh against a fake sandbox gateway status API."""

from __future__ import annotations

import pytest

from payhub.scheduler import sweep
from tests.conftest import Api
from tests.fakes import Answer
from tests.fakes.sandbox_status import FakeSandboxStatus
from tests.timetravel import backdate


class FakeSandbox(FakeSandboxStatus):
    """The sandbox status API, started with its `server` as the older tests know it."""

    @property
    def server(self):
        return self


@pytest.fixture
def fake_sandbox():
    fake = FakeSandbox()
    fake.server.start()
    yield fake
    fake.server.stop()


@pytest.fixture
def swept_app(make_app, fake_sandbox):
    return make_app(PAYHUB_SANDBOX_BASE_URL=fake_sandbox.server.url, PAYHUB_POLL_AFTER="60",
                    PAYHUB_EXPIRE_AFTER="120", PAYHUB_SWEEP_INTERVAL="30", PAYHUB_GATEWAY_TIMEOUT="0.5",
                    PAYHUB_REFRESH_INTERVAL="5")


@pytest.fixture
def sweep_api(swept_app):
    return Api(swept_app.test_client())


def age(app, payment, seconds):
    """Pretend the payment was created `seconds` earlier than it was."""
    backdate(app, payment["id"], seconds)


def run_sweep(app):
    with app.app_context():
        return sweep()


def test_sweep_polls_only_stale_payments_and_applies_the_answer(swept_app, sweep_api, fake_sandbox):
    stale, fresh = sweep_api.create(), sweep_api.create()
    age(swept_app, stale, 61)
    fake_sandbox.statuses[stale["gateway_order_id"]] = "success"
    fake_sandbox.statuses[fresh["gateway_order_id"]] = "success"
    report = run_sweep(swept_app)
    assert report.polled == [stale["id"]] and report.expired == []
    assert fake_sandbox.polls(stale) == 1 and fake_sandbox.polls(fresh) == 0
    payment = sweep_api.payment(stale["id"])
    assert payment["status"] == "succeeded" and payment["events"][0]["source"] == "poll"
    assert sweep_api.payment(fresh["id"])["status"] == "pending"


def test_sweep_expires_after_one_last_poll(swept_app, sweep_api, fake_sandbox):
    old = sweep_api.create()
    age(swept_app, old, 121)
    report = run_sweep(swept_app)
    assert report.expired == [old["id"]] and fake_sandbox.polls(old) == 1
    payment = sweep_api.payment(old["id"])
    assert payment["status"] == "expired" and payment["final"] is True
    assert [e["source"] for e in payment["events"]] == ["poll", "expiry"]


def test_last_poll_saying_success_wins_over_expiry(swept_app, sweep_api, fake_sandbox):
    old = sweep_api.create()
    age(swept_app, old, 121)
    fake_sandbox.statuses[old["gateway_order_id"]] = "success"
    assert run_sweep(swept_app).expired == []
    assert sweep_api.payment(old["id"])["status"] == "succeeded"


def test_gateway_errors_never_stop_the_sweep(swept_app, sweep_api, fake_sandbox):
    broken, slow, fine = sweep_api.create(), sweep_api.create(), sweep_api.create()
    for p in (broken, slow, fine):
        age(swept_app, p, 121 if p is not fine else 61)
    fake_sandbox.statuses[fine["gateway_order_id"]] = "success"
    fake_sandbox.server.script(Answer(500, {"error": "down"}), path=broken["gateway_order_id"])
    fake_sandbox.server.script(Answer.delayed(2), path=slow["gateway_order_id"])
    report = run_sweep(swept_app)
    assert set(report.polled) == {broken["id"], slow["id"], fine["id"]}
    assert set(report.unanswered) == {broken["id"], slow["id"]} and report.expired == []
    assert sweep_api.payment(fine["id"])["status"] == "succeeded"
    # Past the expiry age, a last poll that got no answer expires nothing: tried again next sweep.
    for p in (broken, slow):
        payment = sweep_api.payment(p["id"])
        assert (payment["status"], payment["version"], payment["events"]) == ("pending", 1, [])
    age(swept_app, broken, 30)
    age(swept_app, slow, 30)
    report = run_sweep(swept_app)
    assert set(report.expired) == {broken["id"], slow["id"]}


def test_a_claimed_payment_is_not_polled_again_within_the_interval(swept_app, sweep_api, fake_sandbox):
    stale = sweep_api.create()
    age(swept_app, stale, 61)
    first, second = run_sweep(swept_app), run_sweep(swept_app)  # as two processes sweeping at once
    assert first.polled == [stale["id"]] and second.polled == []
    assert fake_sandbox.polls(stale) == 1


def test_refresh_asks_the_gateway_now_and_is_rate_limited(swept_app, sweep_api, fake_sandbox):
    created = sweep_api.create()
    fake_sandbox.statuses[created["gateway_order_id"]] = "failure"
    response = sweep_api.post(f"/api/payments/{created['id']}/refresh")
    assert response.status_code == 200 and response.get_json()["status"] == "failed"
    again = sweep_api.post(f"/api/payments/{created['id']}/refresh")
    assert again.status_code == 429 and again.get_json()["error"]["code"] == "rate_limited"
    assert fake_sandbox.polls(created) == 1


def test_refresh_with_the_subscribe_token_returns_the_public_view(swept_app, fake_sandbox):
    api = Api(swept_app.test_client())
    created = api.create()
    fake_sandbox.statuses[created["gateway_order_id"]] = "success"
    shopper = swept_app.test_client()
    response = shopper.post(f"/api/payments/{created['id']}/refresh",
                            headers={"X-Payhub-Token": created["subscribe_token"]})
    assert response.status_code == 200 and response.get_json()["status"] == "succeeded"
    assert "gateway" not in response.get_json() and "customer" not in response.get_json()
    other = api.create()
    assert shopper.post(f"/api/payments/{other['id']}/refresh",
                        headers={"X-Payhub-Token": created["subscribe_token"]}).status_code == 401


def test_refresh_when_the_gateway_fails_is_502_and_changes_nothing(swept_app, sweep_api, fake_sandbox):
    created = sweep_api.create()
    fake_sandbox.server.script(Answer(500, {"error": "down"}))
    response = sweep_api.post(f"/api/payments/{created['id']}/refresh")
    assert response.status_code == 502 and response.get_json()["error"]["code"] == "gateway_error"
    payment = sweep_api.payment(created["id"])
    assert payment["version"] == 1 and payment["events"] == []


def test_cli_sweep(swept_app, sweep_api, fake_sandbox):
    stale = sweep_api.create()
    age(swept_app, stale, 121)
    result = swept_app.test_cli_runner().invoke(args=["payhub", "sweep"])
    assert result.exit_code == 0 and "polled 1 payment(s), expired 1" in result.output
