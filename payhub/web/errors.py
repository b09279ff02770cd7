"""One JSON error shape for every API and webhook route:
{"error": {"code": "...", "message": "...", "field": "..."}}."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field, self.extra = status, code, message, field, extra


def error_body(code: str, message: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return {"error": error | extra}


def error_response(status: int, code: str, message: str, field: str | None = None, **extra: Any) -> Any:
    return jsonify(error_body(code, message, field, **extra)), status


_HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type",
    429: "rate_limited", 500: "internal_error", 502: "gateway_error", 503: "unavailable",
}


def wants_json() -> bool:
    return not request.path.startswith(("/pay/", "/sandbox/checkout", "/return/", "/dashboard", "/shop/")) \
        and request.path != "/"


def init_app(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Any:
        return error_response(exc.status, exc.code, exc.message, exc.field, **exc.extra)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        if not wants_json():
            return exc
        status = exc.code or 500
        message = "request body is larger than 64 KiB" if status == 413 else (exc.description or exc.name)
        body, status = error_response(status, _HTTP_CODES.get(status, "error"), message)
        # Keep what the exception says besides its HTML body: Allow on a 405, Retry-After on a 429.
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                body.headers[name] = value
        return body, status

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "internal error")
