"""The naive baseline the hub is measured against: the least a real-time status hub can do.

One POST /callback that verifies X-Payhub-Signature (HMAC-SHA256 of the raw body, the sandbox
gateway's format), gets one row through the Flask-SQLAlchemy ORM, changes it, commits, and emits
`payment_status` to the payment's room; a `subscribe` event that joins the room (no token, no
read). Flask-SQLAlchemy defaults on SQLite, served like app.py: eventlet.wsgi, one process.

    python bench/baseline_app.py --seed 5000   # create rows b0000000..b0004999, then exit
    python bench/baseline_app.py               # serve on BENCH_PORT

Settings come from the environment: BENCH_PORT, BENCH_DB (a SQLite file), BENCH_SECRET, and
BENCH_SQLITE: "hub" (default: WAL + synchronous=NORMAL, as the hub runs SQLite) or "default"
(SQLite's own defaults: rollback journal, synchronous=FULL, an fsync or more per commit).
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # eventlet announces its own deprecation on import
    import eventlet

eventlet.monkey_patch()

import hashlib  # noqa: E402
import hmac  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
from datetime import UTC, datetime  # noqa: E402

import eventlet.wsgi  # noqa: E402
from flask import Flask, jsonify, request  # noqa: E402
from flask_socketio import SocketIO, join_room  # noqa: E402
from flask_sqlalchemy import SQLAlchemy  # noqa: E402

PORT = int(os.environ.get("BENCH_PORT", "5100"))
SECRET = os.environ.get("BENCH_SECRET", "bench-secret").encode()
DATABASE = os.environ.get("BENCH_DB", "/tmp/payhub-baseline.db")

app = Flask(__name__)
app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{DATABASE}"
db = SQLAlchemy(app)
socketio = SocketIO(app, async_mode="eventlet", cors_allowed_origins="*")

if os.environ.get("BENCH_SQLITE", "hub") == "hub":
    # The hub's own SQLite settings (payhub/__init__.py), so the ratio compares code, not fsync policy.
    from sqlalchemy import event

    with app.app_context():
        @event.listens_for(db.engine, "connect")
        def _like_the_hub(dbapi_connection, _record):
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            dbapi_connection.execute("PRAGMA synchronous=NORMAL")


class Payment(db.Model):
    id = db.Column(db.String(40), primary_key=True)
    status = db.Column(db.String(20), nullable=False, default="pending")
    version = db.Column(db.Integer, nullable=False, default=1)
    amount = db.Column(db.BigInteger, nullable=False)
    currency = db.Column(db.String(3), nullable=False, default="INR")
    updated_at = db.Column(db.DateTime, nullable=False)


def row_id(index: int) -> str:
    return f"b{index:07d}"


def view(payment: Payment) -> dict:
    return {"id": payment.id, "status": payment.status, "version": payment.version, "amount": payment.amount,
            "currency": payment.currency, "updated_at": payment.updated_at.isoformat()}


@app.get("/healthz")
def healthz():
    return {"ok": True}


@app.post("/callback")
def callback():
    body = request.get_data()
    expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(request.headers.get("X-Payhub-Signature", "").encode(), expected.encode()):
        return jsonify({"error": "invalid_signature"}), 400
    data = json.loads(body)
    payment = db.session.get(Payment, data["transaction_id"])
    if payment is None:
        return jsonify({"error": "unknown_payment"}), 404
    payment.status = "succeeded" if data["status"] == "success" else "failed"
    payment.version += 1
    payment.updated_at = datetime.now(UTC).replace(tzinfo=None)
    db.session.commit()
    socketio.emit("payment_status", view(payment), to=f"payment:{payment.id}")
    return jsonify({"ok": True, "result": "applied"})


@socketio.on("subscribe")
def subscribe(data):
    join_room(f"payment:{data['payment_id']}")
    return {"ok": True}


def seed(count: int) -> None:
    with app.app_context():
        db.create_all()
        now = datetime.now(UTC).replace(tzinfo=None)
        db.session.add_all(Payment(id=row_id(i), amount=1000, updated_at=now) for i in range(count))
        db.session.commit()


def serve() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard))
    with app.app_context():
        db.create_all()
    listener = eventlet.listen(("127.0.0.1", PORT), backlog=4096)
    eventlet.wsgi.server(listener, app, max_size=20_000, log_output=False)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--seed":
        seed(int(sys.argv[2]))
    else:
        serve()
