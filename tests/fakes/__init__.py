"""A tiny base for fake gateway HTTP servers: real HTTP on 127.0.0.1, a port of the OS's choosing.

A fake registers handlers per (method, path regex), records every call it receives, and lets a
test script what it answers next (a status, a body, a delay) to play outages and timeouts:

    fake = FakeServer().start()
    fake.route("GET", r"/status/(?P<id>\\w+)", lambda call, m: Answer(body={"status": "success"}))
    fake.script(Answer(500, {"error": "boom"}), Answer.delayed(3))   # next two calls misbehave
    ...
    fake.stop()
"""

from __future__ import annotations

import json
import re
import threading
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit


@dataclass
class Answer:
    """What the fake says back. `status=None` means: wait `delay`, then let the route answer."""

    status: int | None = 200
    body: Any = None  # dict/list -> JSON; str/bytes -> sent as is
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    @classmethod
    def delayed(cls, seconds: float) -> Answer:
        """A slow but otherwise normal answer (longer than the client's timeout = a timeout)."""
        return cls(status=None, delay=seconds)

    def encode(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain; charset=utf-8"
        if self.body is None:
            return b"", "text/plain"
        return json.dumps(self.body).encode(), "application/json"


@dataclass
class Call:
    """One request the fake received, exactly as it came."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))


Handler = Callable[[Call, "re.Match[str]"], Answer]


class _Server(ThreadingHTTPServer):
    # Room for a burst of concurrent clients (the sweep polls many at once): a full accept
    # queue drops connections, which a client with a short timeout sees as a gateway outage.
    request_queue_size = 256


class FakeServer:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.errors: list[str] = []  # tracebacks of handlers that crashed (answered 500)
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._script: deque[tuple[str | None, Answer]] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None

    # -- setting up -------------------------------------------------------------------------
    def route(self, method: str, pattern: str, handler: Handler) -> None:
        """`pattern` must match the whole path (query string excluded)."""
        self._routes.append((method.upper(), re.compile(pattern), handler))

    def script(self, *answers: Answer, path: str | None = None) -> None:
        """The next calls (whose path matches the regex `path`, if given) get these answers, in order."""
        with self._lock:
            self._script.extend((path, a) for a in answers)

    def start(self) -> FakeServer:
        self._httpd = _Server(("127.0.0.1", 0), _RequestHandler)
        self._httpd.daemon_threads = True
        self._httpd.fake = self  # type: ignore[attr-defined]
        # A short poll interval keeps stop() quick (shutdown waits for the loop to notice).
        serve = lambda: self._httpd.serve_forever(poll_interval=0.05)  # noqa: E731
        threading.Thread(target=serve, daemon=True, name=type(self).__name__).start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes up delayed answers so the threads end
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "start() the fake first"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # -- looking back -----------------------------------------------------------------------
    def calls_to(self, method: str, pattern: str) -> list[Call]:
        regex = re.compile(pattern)
        return [c for c in self.calls if c.method == method.upper() and regex.fullmatch(c.path)]

    # -- answering --------------------------------------------------------------------------
    def answer(self, call: Call) -> Answer:
        with self._lock:
            self.calls.append(call)
            scripted = self._take_scripted(call.path)
        if scripted is not None:
            self._stopping.wait(scripted.delay)
            if scripted.status is not None:
                return scripted
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(call.path)
            if match and method == call.method:
                try:
                    return handler(call, match)
                except Exception:  # a bug in the fake must show up in the test, not hang it
                    self.errors.append(traceback.format_exc())
                    return Answer(500, {"error": "fake handler crashed"})
        return Answer(404, {"error": f"no fake route for {call.method} {call.path}"})

    def _take_scripted(self, path: str) -> Answer | None:
        for index, (wanted, answer) in enumerate(self._script):
            if wanted is None or re.search(wanted, path):
                del self._script[index]
                return answer
        return None


class _RequestHandler(BaseHTTPRequestHandler):
    server_version = "FakeGateway/1"

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        call = Call(
            method=self.command, path=url.path, query=parse_qs(url.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()}, body=body,
        )
        answer = self.server.fake.answer(call)  # type: ignore[attr-defined]
        payload, content_type = answer.encode()
        try:
            self.send_response(answer.status or 200)
            headers = {"Content-Type": content_type, **answer.headers, "Content-Length": str(len(payload))}
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
            pass

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass
