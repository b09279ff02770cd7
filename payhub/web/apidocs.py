"""The API reference: /openapi.json (the document) and /docs (Swagger UI, installed from npm
at set-up and served from node_modules, never committed, never from a CDN)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template, send_file

from .. import ROOT
from ..openapi import SWAGGER_UI_FILES, document

bp = Blueprint("apidocs", __name__)

SWAGGER_UI_DIR = ROOT / "node_modules" / "swagger-ui-dist"


@bp.get("/openapi.json")
def openapi() -> Any:
    return jsonify(document(current_app))


@bp.get("/docs")
def docs() -> Any:
    return render_template("api_docs.html")


@bp.get("/vendor/swagger-ui/<name>")
def swagger_ui(name: str) -> Any:
    if name not in SWAGGER_UI_FILES:
        return Response("not found\n", status=404, mimetype="text/plain")
    path = SWAGGER_UI_DIR / name
    if not path.is_file():
        message = f"{name} is missing: run `npm ci` in the PayHub folder to install Swagger UI.\n"
        return Response(message, status=503, mimetype="text/plain")
    return send_file(path, mimetype=SWAGGER_UI_FILES[name], max_age=3600)
