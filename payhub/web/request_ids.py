"""Per-request bookkeeping: a request id for every HTTP request (taken from a proxy's
X-Request-Id when it sends a sane one, else made here), echoed as X-Request-Id and put on every
log line of the request; and the request's time in payhub_http_request_seconds."""

from __future__ import annotations

import re
import secrets
import time

from flask import Flask, Response, g, request

from .. import metrics

HEADER = "X-Request-Id"
METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
SANE = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def init_app(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        given = request.headers.get(HEADER, "")
        g.payhub_request_id = given if SANE.fullmatch(given) else secrets.token_hex(8)
        g.payhub_request_started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        request_id = g.get("payhub_request_id")
        if request_id:
            response.headers[HEADER] = request_id
        started = g.get("payhub_request_started")
        if started is not None:
            endpoint = request.endpoint or "unmatched"  # never the raw path: bounded label values
            method = request.method if request.method in METHODS else "other"
            metrics.HTTP_SECONDS.labels(endpoint, method, str(response.status_code)).observe(
                time.perf_counter() - started)
        return response
