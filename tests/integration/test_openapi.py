"""The OpenAPI document is true to the app: every route Flask serves is documented, every
documented route exists, and the document is valid OpenAPI 3.1. When you add a route, document
it in payhub/openapi.py (these tests tell you which one is missing)."""

from __future__ import annotations

import re

from openapi_spec_validator import validate
from werkzeug.exceptions import MethodNotAllowed, NotFound

from payhub.openapi import build

METHODS = {"get", "post", "put", "patch", "delete"}
IMPLICIT = {"HEAD", "OPTIONS"}  # answered by Flask for every route


def flask_routes(app) -> set[tuple[str, str]]:
    return {(rule.rule, method) for rule in app.url_map.iter_rules() for method in rule.methods - IMPLICIT}


def concrete(path: str, item: dict, operation: dict) -> str:
    """A documented path with each {parameter} filled by a value its schema allows."""
    params = {p["name"]: p for p in item.get("parameters", []) + operation.get("parameters", []) if p["in"] == "path"}

    def fill(match: re.Match) -> str:
        schema = params[match.group(1)]["schema"]
        return schema["enum"][0] if "enum" in schema else "x1"

    return re.sub(r"\{([^}]+)\}", fill, path)


def documented(doc: dict):
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method.upper(), operation


def covered_routes(app, doc: dict) -> set[tuple[str, str]]:
    """The (rule, method) pairs of the app that some documented operation reaches."""
    adapter = app.url_map.bind("localhost")
    covered = set()
    for path, method, operation in documented(doc):
        try:
            rule, _ = adapter.match(concrete(path, doc["paths"][path], operation), method=method, return_rule=True)
        except (NotFound, MethodNotAllowed):
            continue
        covered.add((rule.rule, method))
    return covered


def test_document_is_valid_openapi_3_1(app):
    doc = build("http://127.0.0.1:5000")
    assert doc["openapi"].startswith("3.1")
    validate(doc)


def test_every_registered_route_is_documented(app):
    missing = sorted(flask_routes(app) - covered_routes(app, build("http://x")))
    assert not missing, f"routes served but not in payhub/openapi.py: {missing}"


def test_every_documented_route_exists(app):
    adapter = app.url_map.bind("localhost")
    doc = build("http://x")
    absent = []
    for path, method, operation in documented(doc):
        try:
            adapter.match(concrete(path, doc["paths"][path], operation), method=method)
        except (NotFound, MethodNotAllowed):
            absent.append(f"{method} {path}")
    assert not absent, f"documented in payhub/openapi.py but not served: {absent}"


def test_every_operation_has_an_id_a_summary_and_its_answers(app):
    ids = []
    for path, method, operation in documented(build("http://x")):
        assert operation.get("summary"), f"{method} {path} has no summary"
        assert operation.get("responses"), f"{method} {path} documents no responses"
        ids.append(operation["operationId"])
    assert len(ids) == len(set(ids))


def test_openapi_json_is_served_with_this_servers_public_url(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    doc = response.get_json()
    assert doc["servers"] == [{"url": "http://127.0.0.1:5000"}]
    assert "/api/payments" in doc["paths"]
    bearer = doc["components"]["securitySchemes"]["apiKey"]
    assert (bearer["type"], bearer["scheme"]) == ("http", "bearer")


def test_docs_page_uses_swagger_ui_from_node_modules_not_a_cdn(client):
    page = client.get("/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert "/vendor/swagger-ui/swagger-ui-bundle.js" in sources
    assert all(s.startswith("/") or s.startswith("data:") for s in sources), sources  # nothing from elsewhere
    bundle = client.get("/vendor/swagger-ui/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and bundle.mimetype == "text/javascript"
    assert b"SwaggerUIBundle" in bundle.get_data()
    assert client.get("/vendor/swagger-ui/swagger-ui.css").mimetype == "text/css"
    assert client.get("/vendor/swagger-ui/../package.json").status_code == 404
    assert client.get("/vendor/swagger-ui/index.html").status_code == 404


def test_the_route_check_notices_an_undocumented_route(make_app):
    """The forcing function works: a new route nobody documented is reported."""
    app = make_app()
    rule = "/api/payments/<payment_id>/frobnicate"
    app.add_url_rule(rule, "frob", lambda payment_id: "", methods=["POST"])
    assert flask_routes(app) - covered_routes(app, build("http://x")) == {(rule, "POST")}
