"""Dashboard sessions (issue 8 item 5, CONTRACT §7): CSRF tokens on every form, a cookie that is
HttpOnly, SameSite and Secure over https, and a sign-out that ends the session on the server."""

from __future__ import annotations

import re
import time
import uuid

import pytest
from sqlalchemy import text

from payhub import session_sockets
from payhub.extensions import db, socketio
from tests.conftest import API_KEY, csrf_token, sign_in

from .conftest import row_counts


def session_cookie_header(response) -> str:
    [header] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("session=")]
    return header


def test_signing_out_ends_the_session_on_the_server(make_app):
    app = make_app()
    browser = app.test_client()
    assert sign_in(browser).status_code == 303
    stolen = browser.get_cookie("session").value  # e.g. copied from the browser before sign-out
    assert browser.get("/dashboard/data/payments").status_code == 200

    browser.post("/dashboard/signout", data={"csrf_token": csrf_token(browser)})
    replay = app.test_client()
    replay.set_cookie("session", stolen)
    assert replay.get("/dashboard/data/payments").status_code == 401
    assert replay.get("/dashboard").status_code == 401
    feed = socketio.test_client(app, flask_test_client=replay)
    assert feed.emit("operators_join", {}, callback=True) == {"ok": False, "error": "unauthorized"}


def test_a_sign_out_on_one_process_holds_on_another(make_app):
    """Two apps on one database stand for two processes: the session is a row both read."""
    first, second = make_app(), make_app()
    browser = first.test_client()
    sign_in(browser)
    cookie = browser.get_cookie("session").value
    elsewhere = second.test_client()
    elsewhere.set_cookie("session", cookie)
    assert elsewhere.get("/dashboard/data/payments").status_code == 200
    elsewhere.post("/dashboard/signout", data={"csrf_token": csrf_token(elsewhere)})
    assert browser.get("/dashboard/data/payments").status_code == 401


def test_every_dashboard_form_needs_its_csrf_token(make_app):
    app = make_app()
    browser = app.test_client()
    assert csrf_token(browser), "the sign-in form carries no CSRF token"
    before = row_counts(app)
    assert browser.post("/dashboard/signin", data={"api_key": API_KEY}).status_code == 400
    assert browser.post("/dashboard/signin", data={"api_key": API_KEY, "csrf_token": "forged"}).status_code == 400
    assert row_counts(app) == before and browser.get("/dashboard/data/payments").status_code == 401

    sign_in(browser)
    # A cross-site page can make the browser post the sign-out form, but not with the token.
    assert browser.post("/dashboard/signout").status_code == 400
    assert browser.get("/dashboard/data/payments").status_code == 200
    page = browser.get("/dashboard").get_data(as_text=True)
    posting = [f for f in re.findall(r"<form.*?</form>", page, re.S) if 'method="get"' not in f]
    assert len(posting) >= 2 and all('name="csrf_token"' in form for form in posting)  # sign-out, resolve
    assert '<meta name="csrf-token"' in page  # and the page's scripts send it as X-CSRFToken
    # Scripts send it as a header instead of a form field.
    token = csrf_token(browser)
    assert browser.post("/dashboard/signout", headers={"X-CSRFToken": token}).status_code == 303
    assert browser.get("/dashboard/data/payments").status_code == 401


@pytest.mark.parametrize(("public_url", "secure"), [("https://pay.example.com", True),
                                                     ("http://127.0.0.1:5000", False)])
def test_the_session_cookie_is_httponly_samesite_and_secure_over_https(make_app, public_url, secure):
    browser = make_app(PAYHUB_PUBLIC_URL=public_url).test_client()
    header = session_cookie_header(sign_in(browser)).lower()
    assert "httponly" in header and "samesite=lax" in header
    assert ("; secure" in header) is secure


def test_the_cookie_holds_no_key_and_the_database_no_token(make_app):
    app = make_app()
    browser = app.test_client()
    sign_in(browser)
    data = app.session_interface.get_signing_serializer(app).loads(browser.get_cookie("session").value)
    assert API_KEY not in str(data)
    token = data["payhub_operator"]
    with app.app_context():
        stored = db.session.execute(text("SELECT token_hash, key_mark FROM operator_sessions")).all()
    assert len(stored) == 1 and token not in str(stored) and API_KEY not in str(stored)


# -- the live feed ends with the session (issue 8) --------------------------------------------------
def create_payment(client) -> dict:
    answer = client.post("/api/payments", headers={"Authorization": f"Bearer {API_KEY}"},
                         json={"order_id": f"ord-{uuid.uuid4().hex[:10]}", "amount": 1000, "currency": "INR",
                               "gateway": "sandbox"})
    assert answer.status_code == 201, answer.get_data(as_text=True)
    return answer.get_json()


def created_ids(feed) -> list[str]:
    return [e["args"][0]["id"] for e in feed.get_received() if e["name"] == "payment_created"]


def signed_in_feed(app):
    """A browser signed in to the dashboard, and its page's Socket.IO connection on the feed."""
    browser = app.test_client()
    assert sign_in(browser).status_code == 303
    feed = socketio.test_client(app, flask_test_client=browser)
    assert feed.emit("operators_join", {}, callback=True) == {"ok": True}
    return browser, feed


def test_signing_out_disconnects_the_dashboards_live_feed(make_app):
    """The page's socket kept receiving every payment after its operator had signed out."""
    app = make_app()
    browser, feed = signed_in_feed(app)
    second_tab = socketio.test_client(app, flask_test_client=browser)
    assert second_tab.emit("operators_join", {}, callback=True) == {"ok": True}
    script = socketio.test_client(app, headers={"Authorization": f"Bearer {API_KEY}"})
    assert script.emit("operators_join", {}, callback=True) == {"ok": True}
    first = create_payment(app.test_client())
    assert created_ids(feed) == [first["id"]]

    browser.post("/dashboard/signout", data={"csrf_token": csrf_token(browser)})
    assert not feed.is_connected() and not second_tab.is_connected()
    # The feed of a script with the API key is not a session's: it stays.
    script.get_received()
    later = create_payment(app.test_client())
    assert script.is_connected() and created_ids(script) == [later["id"]]


def test_a_new_sign_in_ends_the_session_the_browser_had(make_app):
    app = make_app()
    browser, feed = signed_in_feed(app)
    assert sign_in(browser).status_code == 303
    assert not feed.is_connected()
    with app.app_context():
        assert db.session.execute(text("SELECT count(*) FROM operator_sessions")).scalar_one() == 1


def test_a_feed_outliving_its_session_is_disconnected(make_app, monkeypatch):
    """A session ends at its age with no sign-out to announce it; its socket may stay open."""
    monkeypatch.setattr(session_sockets, "CHECK_EVERY", 0.2)
    app = make_app()
    browser, feed = signed_in_feed(app)
    time.sleep(0.5)
    assert feed.is_connected()  # checked, and still open
    with app.app_context():
        db.session.execute(text("UPDATE operator_sessions SET expires_at = '2000-01-01 00:00:00'"))
        db.session.commit()
    deadline = time.monotonic() + 5
    while feed.is_connected() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not feed.is_connected()
    # And a reconnect is refused.
    again = socketio.test_client(app, flask_test_client=browser)
    assert again.emit("operators_join", {}, callback=True) == {"ok": False, "error": "unauthorized"}
