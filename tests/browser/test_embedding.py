"""payhub.js on a merchant's own page, served from another origin (PAYHUB_CORS_ORIGINS)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.livehub import LiveHub, free_port

from .conftest import send_callback, status_polls

pytestmark = pytest.mark.browser

MERCHANT_PAGE = """<!doctype html><meta charset="utf-8"><title>Merchant</title>
<p>Order status: <strong id="status" aria-live="polite">…</strong> <span id="mode"></span></p>
<script src="{hub}/static/payhub.js"></script>
<script>
  var params = new URLSearchParams(location.search);
  window.seen = [];
  window.watcher = PayHub.watch({{
    paymentId: params.get("id"), token: params.get("token"),
    onStatus: function (p) {{ seen.push(p.status); document.getElementById("status").textContent = p.status; }},
    onMode: function (m) {{ document.getElementById("mode").textContent = m; }},
  }});
</script>"""


def serve_merchant_page(port: int, hub_url: str) -> ThreadingHTTPServer:
    body = MERCHANT_PAGE.format(hub=hub_url).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def merchant(tmp_path_factory):
    port = free_port()
    hub = LiveHub(tmp_path_factory.mktemp("cors-hub"), PAYHUB_CORS_ORIGINS=f"http://127.0.0.1:{port}").start()
    server = serve_merchant_page(port, hub.url)
    yield hub, f"http://127.0.0.1:{port}/"
    server.shutdown()
    hub.stop()


def test_a_merchant_page_on_another_origin_gets_live_updates(merchant, new_page):
    hub, page_url = merchant
    payment = hub.create()
    page = new_page()
    page.goto(f"{page_url}?id={payment['id']}&token={payment['subscribe_token']}")
    page.wait_for_selector("#mode:text('live')")
    assert page.inner_text("#status") == "pending"
    refreshed = page.evaluate("watcher.refresh().then(p => p.status)")  # a CORS preflighted POST
    assert refreshed == "pending"
    polls = status_polls(page, payment)
    send_callback(hub, payment, "success")
    page.wait_for_selector("#status:text('succeeded')", timeout=15_000)
    assert page.evaluate("seen") == ["pending", "succeeded"]
    assert polls == []  # pushed over the cross-origin socket, not polled


def test_a_merchant_page_on_another_origin_can_fall_back_to_polling(merchant, new_page):
    hub, page_url = merchant
    payment = hub.create()
    page = new_page()
    page.context.route("**/socket.io/**", lambda route: route.abort())
    page.context.route_web_socket("**/socket.io/**", lambda ws: ws.close())
    send_callback(hub, payment, "failure")  # settled before the page opens: the first poll brings it
    page.goto(f"{page_url}?id={payment['id']}&token={payment['subscribe_token']}")
    page.wait_for_selector("#status:text('failed')", timeout=6000)
    # Failed is not the end (late money can still arrive): it keeps polling, until succeeded.
    assert page.evaluate("seen") == ["failed"] and page.evaluate("watcher.mode") == "polling"
    send_callback(hub, payment, "success")
    page.wait_for_selector("#status:text('succeeded')", timeout=15_000)
    assert page.evaluate("seen") == ["failed", "succeeded"] and page.evaluate("watcher.mode") == "stopped"
