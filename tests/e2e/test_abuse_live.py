"""Issue 8 reviewed from outside (h-qa-abuse): what a visitor with no key and no token can do to a
real `python app.py` with nothing but connections and engine.io requests.

- An engine.io polling POST the engine cannot take (a packet type it does not know, a body over
  its 64 KiB buffer) was never answered: python-engineio closed the session waiting for a poll
  that never came, holding the request, its green thread and its socket for good.
- Connections are not free: idle or half-sent ones were held forever, and a flood of them from
  one address made eventlet's accept() fail with EMFILE, which ended the server process.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import sys
import time

import pytest
import requests

from tests.e2e.test_live import callback
from tests.livehub import LiveHub, wait_until

pytestmark = pytest.mark.e2e


def open_fds(hub: LiveHub) -> int:
    return len(os.listdir(f"/proc/{hub.process.pid}/fd"))


def handshake(hub: LiveHub) -> str:
    """An engine.io session id: no Socket.IO connect, so no connect limit is involved."""
    answer = requests.get(f"{hub.url}/socket.io/?EIO=4&transport=polling", timeout=10)
    assert answer.status_code == 200, answer.text
    return json.loads(answer.text[1:])["sid"]


# -- engine.io requests that were never answered --------------------------------------------------
@pytest.mark.parametrize(("body", "expected"), [
    (b"9", 400),                   # a packet type engine.io does not know
    (b"4hello\x1e7", 400),         # ... after a good one
    (b"4" + b"x" * 70_000, 413),  # over engine.io's (and the hub's) 64 KiB
])
def test_an_engine_io_post_the_engine_cannot_take_is_answered_and_frees_its_socket(live_hub, body, expected):
    hub = live_hub()
    before = open_fds(hub)
    held = []
    for _ in range(20):
        sid = handshake(hub)
        conn = socket.create_connection(("127.0.0.1", hub.port), timeout=10)
        conn.sendall(f"POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n"
                     f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
        held.append(conn)
    for conn in held:
        # The old hub never answered: recv timed out.
        status_line = conn.recv(200).split(b"\r\n")[0]
        assert status_line.split()[1] == str(expected).encode(), status_line
        conn.close()
    # Nothing stays behind: the old hub kept every one of those sockets open for good.
    assert wait_until(lambda: open_fds(hub) <= before + 5, 20), (before, open_fds(hub))
    assert requests.get(f"{hub.url}/healthz", timeout=10).status_code == 200


def test_a_good_engine_io_post_still_goes_through(live_hub):
    hub = live_hub()
    sid = handshake(hub)
    url = f"{hub.url}/socket.io/?EIO=4&transport=polling&sid={sid}"
    assert requests.post(url, data="40", timeout=10).text == "OK"
    assert requests.get(url, timeout=10).text.startswith("40{")  # the namespace connect's answer


# -- connections ---------------------------------------------------------------------------------
def limited_hub(tmp_path, files: int, **env: str) -> LiveHub:
    """A hub that may hold `files` open files: a connection flood reaches that in a test."""
    command = ["sh", "-c", f'ulimit -n {files} && exec "{sys.executable}" app.py']
    return LiveHub(tmp_path / "limited", command=command, **env).start()


def test_a_flood_of_idle_connections_does_not_end_the_server(tmp_path):
    """21,000 idle connections from 127.0.0.1 made eventlet's accept() fail with EMFILE (the open
    files limit was 20,000), which ended `python app.py` for good."""
    hub = limited_hub(tmp_path, 300, PAYHUB_IDLE_TIMEOUT="3")
    try:
        payment = hub.create()
        flood = []
        for _ in range(400):
            try:
                flood.append(socket.create_connection(("127.0.0.1", hub.port), timeout=5))
            except OSError:
                break  # the backlog is full: the kernel refuses, which is fine
        time.sleep(1)
        assert hub.process.poll() is None, "the server process ended:\n" + hub.log()[-2000:]
        # The attacker's connections are closed after the idle timeout, and everyone is served again.
        assert wait_until(lambda: served(hub), 60), hub.log()[-2000:]
        assert callback(hub, payment, "success").status_code == 200
        for conn in flood:
            conn.close()
        assert hub.process.poll() is None
    finally:
        hub.stop()


def served(hub: LiveHub) -> bool:
    try:
        return requests.get(f"{hub.url}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_an_idle_or_half_sent_connection_is_closed_after_the_idle_timeout(live_hub):
    hub = live_hub(PAYHUB_IDLE_TIMEOUT="2")
    idle = socket.create_connection(("127.0.0.1", hub.port), timeout=30)
    half = socket.create_connection(("127.0.0.1", hub.port), timeout=30)
    half.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finished
    kept = socket.create_connection(("127.0.0.1", hub.port), timeout=30)
    kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"200 OK" in kept.recv(4096)
    started = time.monotonic()
    for conn in (idle, half, kept):  # a keep-alive connection with nothing more to say, too
        assert conn.recv(4096) == b""  # closed by the server (the old hub: never, recv timed out)
        conn.close()
    assert time.monotonic() - started < 20


def get_from(hub: LiveHub, source: str, path: str = "/healthz") -> int:
    """GET from a given local address (every 127.0.0.0/8 address is this machine)."""
    conn = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=10, source_address=(source, 0))
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def test_one_address_cannot_hold_every_connection(live_hub):
    hub = live_hub(PAYHUB_CONNECTIONS_PER_ADDRESS="20")
    before = open_fds(hub)
    flood = [socket.create_connection(("127.0.0.1", hub.port), timeout=10) for _ in range(300)]
    time.sleep(1)
    # The old hub held all 300 (and, with enough of them, ran out of files and ended).
    assert open_fds(hub) <= before + 25, open_fds(hub) - before
    assert get_from(hub, "127.0.0.2") == 200  # another address is served at once
    for conn in flood:
        conn.close()
    assert wait_until(lambda: get_from(hub, "127.0.0.1") == 200, 20)


def test_the_connection_cap_is_off_with_the_rate_limits(live_hub):
    hub = live_hub(PAYHUB_CONNECTIONS_PER_ADDRESS="5", PAYHUB_RATE_LIMITS="0")
    held = [socket.create_connection(("127.0.0.1", hub.port), timeout=10) for _ in range(20)]
    assert get_from(hub, "127.0.0.1") == 200
    for conn in held:
        conn.close()


# -- the log -------------------------------------------------------------------------------------
def test_a_visitor_cannot_flood_the_log(live_hub):
    """Every forged webhook logged a line, every garbage Socket.IO packet a 2 KB traceback, as
    fast as anyone could send them (neither is rate limited)."""
    hub = live_hub()
    sid = handshake(hub)
    url = f"{hub.url}/socket.io/?EIO=4&transport=polling&sid={sid}"
    assert requests.post(url, data="40", timeout=10).status_code == 200
    before = len(hub.log())
    with requests.Session() as session:
        for _ in range(300):
            session.post(f"{hub.url}/webhooks/sandbox", data=b"{}", timeout=10,
                         headers={"X-Payhub-Signature": "sha256=forged"})
            session.post(url, data=f"42[{'[' * 5000}", timeout=10)
    wait_until(lambda: False, 1)  # let the handlers finish logging
    grown = len(hub.log()) - before
    assert grown < 120_000, f"the log grew by {grown} bytes"  # the old hub: about 700 KB
    assert "webhook rejected" in hub.log()[before:]  # still said, a few times


def test_the_log_says_how_many_lines_it_held_back(tmp_path):
    import logging

    from payhub.logsafe import FloodGuard

    guard, seen = FloodGuard(burst=3, window=0.5), []
    logger = logging.getLogger("payhub.test.flood")
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())
    handler.addFilter(guard)
    logger.addHandler(handler)
    try:
        for i in range(10):
            logger.warning("forged webhook %d", i)
        time.sleep(0.6)
        logger.warning("forged webhook %d", 10)
    finally:
        logger.removeHandler(handler)
    assert seen[:3] == ["forged webhook 0", "forged webhook 1", "forged webhook 2"]
    assert seen[3:] == ["forged webhook 10 [7 more like this in the last 0.5 s were not logged]"]


# -- engine.io handshakes ------------------------------------------------------------------------
def handshake_from(hub: LiveHub, source: str) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=10, source_address=(source, 0))
    conn.request("GET", "/socket.io/?EIO=4&transport=polling")
    answer = conn.getresponse()
    answer.read()
    conn.close()
    return answer


def test_engine_io_handshakes_are_limited_per_address(live_hub):
    """Each handshake holds a session (about 13 KB) until its ping timeout; the Socket.IO connect
    limit counted only the namespace connect that may follow, so plain GETs were unlimited
    (10,000 in 12 s: +130 MB)."""
    hub = live_hub(PAYHUB_LIMIT_SOCKET="5/minute")
    assert [handshake_from(hub, "127.0.0.1").status for _ in range(5)] == [200] * 5
    refused = handshake_from(hub, "127.0.0.1")
    assert refused.status == 429 and 1 <= int(refused.getheader("Retry-After")) <= 60
    assert handshake_from(hub, "127.0.0.2").status == 200  # counted per address

    # A session already open is not a handshake: its requests go on.
    one = live_hub(PAYHUB_LIMIT_SOCKET="1/minute")
    url = f"{one.url}/socket.io/?EIO=4&transport=polling&sid={handshake(one)}"
    assert requests.post(url, data="40", timeout=10).text == "OK"
    assert requests.get(url, timeout=10).text.startswith("40{")
    assert handshake_from(one, "127.0.0.1").status == 429


def test_a_real_socket_io_client_still_connects_and_subscribes(live_hub):
    import socketio

    hub = live_hub(PAYHUB_LIMIT_SOCKET="2/minute")
    payment = hub.create()
    client = socketio.Client(reconnection=False)
    for transports in (["polling", "websocket"], ["websocket"]):
        client.connect(hub.url, transports=transports, wait_timeout=10)
        ack = client.call("subscribe", {"payment_id": payment["id"], "token": payment["subscribe_token"]}, timeout=10)
        assert ack["ok"] is True
        client.disconnect()
