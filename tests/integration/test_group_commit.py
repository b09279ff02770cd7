"""Group commit (payhub/group_commit.py): callbacks arriving together share one transaction and
one commit, each answered after it; a member that fails loses or poisons no other member.

Callbacks are made to arrive together by holding SQLite's write lock from another connection
(as another writer would) while they come in: the first waits for the lock inside its
transaction, and the rest queue up behind it as the next group."""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
import time
from typing import Any

from payhub.door import apply_update
from payhub.gateways.base import StatusUpdate
from payhub.metrics import REGISTRY


def success(payment: dict, event_id: str, **payload: Any) -> StatusUpdate:
    return StatusUpdate(gateway="sandbox", status="succeeded", gateway_status="success",
                        gateway_order_id=payment["gateway_order_id"], gateway_event_id=event_id,
                        amount_received=payment["amount"], payload={"event_id": event_id, **payload})


def apply_together(app, tmp_path, updates: list[StatusUpdate]) -> list[Any]:
    """Apply the updates from one thread each while another connection holds the write lock,
    so that they queue up together; their outcomes (or exceptions), in order."""
    results: list[Any] = [None] * len(updates)
    blocker = sqlite3.connect(tmp_path / "payhub.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")

    def run(index: int) -> None:
        with app.app_context():
            try:
                results[index] = apply_update(updates[index], group=True)
            except Exception as exc:
                results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(updates))]
    for thread in threads:
        thread.start()
        time.sleep(0.05)
    time.sleep(0.5)
    blocker.execute("ROLLBACK")
    blocker.close()
    for thread in threads:
        thread.join(30)
    return results


def test_callbacks_arriving_together_are_each_applied_once(app, api, tmp_path, socket_client):
    payments = [api.create() for _ in range(6)]
    sio = socket_client()
    for payment in payments:
        assert sio.emit("subscribe", {"payment_id": payment["id"], "token": payment["subscribe_token"]},
                        callback=True)["ok"]
    sio.get_received()
    # Every payment's success, plus a resend of the first two inside the same burst.
    updates = [success(p, f"evt_{i}") for i, p in enumerate(payments)]
    updates += [success(payments[0], "evt_0"), success(payments[1], "evt_1")]
    commits = REGISTRY.get_sample_value("payhub_commit_group_size_count") or 0
    results = apply_together(app, tmp_path, updates)
    assert [r.result for r in results] == ["applied"] * 6 + ["duplicate"] * 2
    # Eight callbacks, fewer commits: they were written in groups.
    assert (REGISTRY.get_sample_value("payhub_commit_group_size_count") or 0) - commits < len(updates)
    for payment in payments:
        seen = api.payment(payment["id"])
        assert (seen["status"], seen["version"]) == ("succeeded", 2)
    pushed = [m["args"][0] for m in sio.get_received() if m["name"] == "payment_status"]
    # Each change pushed once; the two resent ones (duplicates of applied updates) repeat their
    # push, as any resend does (door.py: the first delivery may have died before telling).
    told = [(p["id"], 2) for p in payments] + [(payments[0]["id"], 2), (payments[1]["id"], 2)]
    assert sorted((v["id"], v["version"]) for v in pushed) == sorted(told)


def test_a_member_that_fails_is_retried_alone_and_poisons_no_other(app, api, tmp_path, caplog):
    payments = [api.create() for _ in range(4)]
    broken = success(payments[1], "evt_bad", unstorable={1, 2})  # a set: the event row cannot be written
    updates = [success(payments[0], "evt_a"), broken, success(payments[2], "evt_c"),
               success(payments[3], "evt_d"), success(payments[0], "evt_a")]
    with caplog.at_level(logging.WARNING, logger="payhub.group_commit"):
        results = apply_together(app, tmp_path, updates)
    failed = re.search(r"a group of (\d+) callbacks could not be committed together", caplog.text)
    assert failed and int(failed[1]) > 1  # the group failed as a whole ...
    assert isinstance(results[1], Exception)  # ... and only the broken one failed alone
    assert [r.result for i, r in enumerate(results) if i != 1] == ["applied", "applied", "applied", "duplicate"]
    assert [api.payment(p["id"])["version"] for p in payments] == [2, 1, 2, 2]
    assert api.payment(payments[1]["id"])["events"] == []


def test_a_refunds_failure_and_its_late_creation_in_one_group(app, api, tmp_path):
    """The creation sees the failure written before it in the same, not yet committed,
    transaction: the payment does not wait in refund_pending for news that never comes."""
    first, payment = api.create(), api.create()
    with app.app_context():
        apply_update(success(payment, "evt_paid"))

    def refund_news(kind: str, status: str, event_id: str) -> StatusUpdate:
        return StatusUpdate(gateway="sandbox", kind=kind, status=status, gateway_status=kind,
                            gateway_order_id=payment["gateway_order_id"], gateway_event_id=event_id,
                            subject_id="re_late", payload={"event_id": event_id})

    sizes = REGISTRY.get_sample_value("payhub_commit_group_size_sum") or 0
    commits = REGISTRY.get_sample_value("payhub_commit_group_size_count") or 0
    # The first leads a group of its own (waiting for the write lock); the other two queue together.
    results = apply_together(app, tmp_path, [success(first, "evt_first"),
                                             refund_news("refund_failed", "succeeded", "evt_failed"),
                                             refund_news("refund_pending", "refund_pending", "evt_created")])
    assert (REGISTRY.get_sample_value("payhub_commit_group_size_sum") - sizes,
            REGISTRY.get_sample_value("payhub_commit_group_size_count") - commits) == (3, 2)
    assert [(r.result, r.reason) for r in results[1:]] == [("not_applied", "no_change"),
                                                          ("not_applied", "refund_already_failed")]
    seen = api.payment(payment["id"])
    assert (seen["status"], seen["version"]) == ("succeeded", 2)


def test_a_refund_failure_sees_another_refund_created_earlier_in_its_group(app, api, tmp_path):
    """Issue 7, two refunds: refund B's creation, not yet committed, keeps refund A's failure
    from taking the payment back to succeeded."""
    first, payment = api.create(), api.create()

    def refund_news(kind: str, status: str, event_id: str, subject: str) -> StatusUpdate:
        return StatusUpdate(gateway="sandbox", kind=kind, status=status, gateway_status=kind,
                            gateway_order_id=payment["gateway_order_id"], gateway_event_id=event_id,
                            subject_id=subject, payload={"event_id": event_id})

    with app.app_context():
        apply_update(success(payment, "evt_paid"))
        apply_update(refund_news("refund_pending", "refund_pending", "evt_a_created", "re_A"))
    sizes = REGISTRY.get_sample_value("payhub_commit_group_size_sum") or 0
    commits = REGISTRY.get_sample_value("payhub_commit_group_size_count") or 0
    results = apply_together(app, tmp_path, [success(first, "evt_first"),
                                             refund_news("refund_pending", "refund_pending", "evt_b_created", "re_B"),
                                             refund_news("refund_failed", "succeeded", "evt_a_failed", "re_A")])
    assert [(r.result, r.reason) for r in results[1:]] == [("not_applied", "no_change"),
                                                          ("not_applied", "other_refund_open")]
    assert (REGISTRY.get_sample_value("payhub_commit_group_size_sum") - sizes,
            REGISTRY.get_sample_value("payhub_commit_group_size_count") - commits) == (3, 2)  # the two together
    seen = api.payment(payment["id"])
    assert (seen["status"], seen["version"]) == ("refund_pending", 3)
