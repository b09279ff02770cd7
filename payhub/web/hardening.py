"""What every request and response goes through, whoever sent it (CONTRACT.md §9):

- bodies: over 64 KiB is a 413 whether or not a Content-Length was sent (a chunked body is
  read up to the limit here, so no view ever sees a silently cut one), on every path, Socket.IO's
  included; JSON nested too deep is unreadable (a 400 where a view asks for JSON), never a
  RecursionError;
- engine.io: a polling POST with a packet type engine.io does not know is a 400 here (see
  `engineio_guard`);
- client address: taken from X-Forwarded-For only when PAYHUB_TRUSTED_PROXIES says how many
  proxies set it (Werkzeug's ProxyFix);
- response headers: Content-Security-Policy with frame-ancestors, nosniff, on every page.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from typing import Any

from engineio.packet import packet_names
from flask import Flask, Response, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.middleware.proxy_fix import ProxyFix

MAX_DEPTH = 64
# The browser pages load only their own scripts and styles; the Razorpay hand-off page also
# loads Razorpay's checkout.js, which opens its own frame and calls its own API.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
RAZORPAY = "https://checkout.razorpay.com https://api.razorpay.com"
CSP_HANDOFF = CSP.replace("script-src 'self'", f"script-src 'self' {RAZORPAY}").replace(
    "connect-src 'self'", "connect-src 'self' https://*.razorpay.com") + f"; frame-src {RAZORPAY}"


class TooDeep(ValueError):
    pass


def depth_checked(value: Any, limit: int = MAX_DEPTH) -> Any:
    """`value` itself, or TooDeep (a ValueError) when lists/objects nest deeper than `limit`."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                raise TooDeep(f"JSON nested deeper than {limit} levels")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return value


class GuardedJSON(DefaultJSONProvider):
    """request.get_json(): deep nesting is invalid JSON (a ValueError Flask turns into a 400)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return depth_checked(json.loads(s, **kwargs))
        except RecursionError:
            raise TooDeep("JSON nested too deep") from None


def body_limit(wsgi_app: Callable[..., Any], limit: int) -> Callable[..., Any]:
    """Read a body sent without Content-Length (chunked) up to `limit` bytes before the app
    sees it: more is a 413; otherwise the app gets it with a Content-Length like any other."""

    def middleware(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = environ.get("CONTENT_LENGTH") or ""
        if length.isdecimal() and int(length) > limit:
            # Flask refuses these itself, but engine.io would not answer at all (see engineio_guard).
            return _too_large(start_response)
        if length or "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            return wsgi_app(environ, start_response)
        body = _read_at_most(environ["wsgi.input"], limit + 1)
        if len(body) > limit:
            return _too_large(start_response)
        # From here on it is a plain body of known length (Werkzeug reads a body still marked
        # chunked as empty unless the server says it terminated the input).
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        environ.pop("wsgi.input_terminated", None)
        return wsgi_app(environ, start_response)

    return middleware


def _too_large(start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("413 Request Entity Too Large", [("Content-Type", "application/json"), ("Connection", "close")])
    return [b'{"error": {"code": "payload_too_large", "message": "request body is larger than 64 KiB"}}']


def engineio_guard(wsgi_app: Callable[..., Any], path: str = "/socket.io") -> Callable[..., Any]:
    """Answer 400 to an engine.io polling POST carrying a packet type engine.io does not know.

    python-engineio (4.15.1) answers such a POST, and one over its buffer size, by closing the
    session with close(wait=True), which waits for a poll to take the session's last packets;
    a client that never polls gets no answer, and the request, its green thread and its socket
    are held for good (also after the client hung up). Anyone can do it after a handshake, so
    both are refused here first (the size by `body_limit`)."""

    def middleware(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST" or not environ.get("PATH_INFO", "").startswith(path):
            return wsgi_app(environ, start_response)
        length = environ.get("CONTENT_LENGTH") or "0"
        body = _read_at_most(environ["wsgi.input"], int(length)) if length.isdecimal() else b""
        environ["wsgi.input"] = io.BytesIO(body)
        if _unknown_packet(body):
            start_response("400 BAD REQUEST", [("Content-Type", "text/plain")])
            return [b"Unknown packet type"]
        return wsgi_app(environ, start_response)

    return middleware


def _unknown_packet(body: bytes) -> bool:
    """Whether an engine.io v4 polling payload (packets joined by 0x1e) has a text packet whose
    type engine.io would read (int() of its first character) as one it does not know."""
    for encoded in body.decode("utf-8", "replace").split("\x1e"):
        if not encoded or encoded[0] == "b":  # empty: engine.io's own error; "b": base64 binary
            continue
        try:
            kind = int(encoded[0])
        except ValueError:  # engine.io logs it and answers: nothing held
            continue
        if kind >= len(packet_names):
            return True
    return False


def _read_at_most(stream: Any, size: int) -> bytes:
    chunks, got = [], 0
    while got < size:
        chunk = stream.read(min(65536, size - got))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if response.mimetype == "text/html":
        policy = CSP_HANDOFF if request.endpoint == "pages.buy" else CSP
        response.headers.setdefault("Content-Security-Policy", policy)
        response.headers.setdefault("X-Frame-Options", "DENY")
    return response


def init_app(app: Flask, max_body: int) -> None:
    app.json = GuardedJSON(app)
    app.after_request(security_headers)
    app.wsgi_app = body_limit(engineio_guard(app.wsgi_app), max_body)  # type: ignore[method-assign]
    proxies = app.config["PAYHUB"].trusted_proxies
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
