"""CORS for the browser-facing routes: same origin only unless PAYHUB_CORS_ORIGINS allows more."""

from __future__ import annotations

from flask import Flask, Response, request

BROWSER_ROUTES = ("api.status", "api.refresh")


def init_app(app: Flask) -> None:
    allowed = set(app.config["PAYHUB"].cors_origins)

    @app.after_request
    def _cors(response: Response) -> Response:
        origin = request.headers.get("Origin")
        if not origin or request.endpoint not in BROWSER_ROUTES or origin.rstrip("/") not in allowed:
            return response
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = "ETag"
        response.headers.add("Vary", "Origin")
        if request.method == "OPTIONS":
            response.headers["Access-Control-Allow-Methods"] = "GET, POST"
            response.headers["Access-Control-Allow-Headers"] = "X-Payhub-Token, If-None-Match, Content-Type"
            response.headers["Access-Control-Max-Age"] = "600"
        return response
