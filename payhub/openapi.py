"""The OpenAPI 3.1 document of PayHub's whole HTTP surface, served at /openapi.json.

Built from the same constants the code checks against (statuses, gateways, currencies, limits),
so the two cannot drift apart silently; tests/integration/test_openapi.py checks that every
route Flask serves is documented here and every documented route exists, and schemathesis
(tests/e2e/test_schemathesis.py) checks live answers against it.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask

from . import lifecycle
from .gateways import KNOWN
from .money import EXPONENTS, MAX_AMOUNT

Schema = dict[str, Any]

EVENT_SOURCES = ("webhook", "return", "poll", "expiry", "api", "operator")
ORDER_ID_PATTERN = r"^[A-Za-z0-9_.@-]{1,64}$"


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def json_content(schema: Schema) -> Schema:
    return {"application/json": {"schema": schema}}


def error(description: str) -> Schema:
    """An error answer; its example carries the first code the description names."""
    code = re.search(r"`([a-z_]+)`", description)
    example = {"error": {"code": code.group(1) if code else "error", "message": "…"}}
    return {"description": description,
            "content": {"application/json": {"schema": ref("Error"), "example": example}}}


def html(description: str) -> Schema:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


def redirect(description: str) -> Schema:
    return {"description": description, "headers": {"Location": {"schema": {"type": "string"}, "required": True}}}


def form_body(properties: dict[str, Schema], required: tuple[str, ...] = ()) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": schema}}}


def path_param(name: str, description: str, schema: Schema | None = None) -> Schema:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": schema or {"type": "string"}}


PAYMENT_ID = path_param("payment_id", "The payment's id (`pay_…`).", {"type": "string", "maxLength": 40})

# The subscribe token, also as explicit parameters (so links can hand it from a created payment).
TOKEN_HEADER = {"name": "X-Payhub-Token", "in": "header", "schema": {"type": "string"},
                "description": "The payment's subscribe token."}
TOKEN_QUERY = {"name": "token", "in": "query", "schema": {"type": "string"},
               "description": "The payment's subscribe token, for links (same as X-Payhub-Token)."}

# The answers every merchant API route may give besides its own.
UNAUTHORIZED = error("`unauthorized`: missing or wrong API key.")
NOT_FOUND = error("`not_found`: no such payment.")
TOO_LARGE = error("`payload_too_large`: the body is over 64 KiB.")
RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer", "minimum": 1}, "required": True,
                               "description": "Seconds until this address may try again."}}
RATE_LIMITED = {**error("`rate_limited`: too many requests from this address (limits per client address, "
                        "PAYHUB_LIMIT_*); wait `Retry-After` seconds."), "headers": RETRY_AFTER}
PAGE_RATE_LIMITED = {**html("Too many requests from this address: a page asking to wait `Retry-After` seconds."),
                     "headers": RETRY_AFTER}
STALE_FORM = html("The form's CSRF token is missing or stale (a request without the API key): sign in again.")


# --------------------------------------------------------------------------------------------
# Schemas


def _schemas() -> dict[str, Schema]:
    statuses = {"type": "string", "enum": list(lifecycle.STATUSES)}
    timestamp = {"type": "string", "format": "date-time"}
    public = {
        "id": {"type": "string", "description": "Public, unguessable id (`pay_…`)."},
        "order_id": {"type": "string", "description": "The merchant's order id (unique)."},
        "status": statuses,
        "final": {"type": "boolean", "description": "The shopper's attempt is over (not: the status can never "
                                                    "change; failed, expired and cancelled can still succeed)."},
        "version": {"type": "integer", "minimum": 1, "description": "+1 on every applied change."},
        "amount": {"type": "integer", "minimum": 1, "description": "In the currency's minor unit (paise, cents)."},
        "currency": {"type": "string", "enum": sorted(EXPONENTS)},
        "amount_received": nullable({"type": "integer", "minimum": 0}),
        "updated_at": timestamp,
        "expires_at": timestamp,
    }
    payment = {
        **public,
        "object": {"const": "payment"},
        "gateway": {"type": "string", "enum": list(KNOWN)},
        "gateway_status": nullable({"type": "string"}),
        "gateway_order_id": nullable({"type": "string"}),
        "gateway_payment_id": nullable({"type": "string"}),
        "customer": ref("Customer"),
        "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
        "return_url": nullable({"type": "string"}),
        "created_at": timestamp,
        "events": {"type": "array", "items": ref("Event"),
                   "description": "The audit log, oldest first (only on `GET /api/payments/{payment_id}`)."},
    }
    return {
        "Error": {
            "type": "object", "required": ["error"], "additionalProperties": False,
            "properties": {"error": {
                "type": "object", "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "description": "Machine-readable, e.g. `invalid_request`."},
                    "message": {"type": "string", "description": "For people."},
                    "field": {"type": "string", "description": "The offending field, when one is to blame."},
                },
            }},
        },
        "PublicView": {
            "type": "object", "additionalProperties": False, "required": list(public), "properties": public,
            "description": "What a shopper's browser may see of a payment: no customer data, no secrets. The same "
                           "shape on Socket.IO (`payment_status`, the `subscribe` ack) and the polling endpoint.",
        },
        "Payment": {
            "type": "object", "properties": payment,
            "required": [*public, "object", "gateway", "gateway_status", "gateway_order_id", "gateway_payment_id",
                         "customer", "metadata", "return_url", "created_at"],
        },
        "CreatedPayment": {
            "allOf": [ref("Payment"), {
                "type": "object", "required": ["subscribe_token", "status_url", "poll_url", "checkout"],
                "properties": {
                    "subscribe_token": {"type": "string", "description": "Hand this, and nothing else, to the "
                                                                         "shopper's browser."},
                    "status_url": {"type": "string", "description": "PayHub's status page for this payment."},
                    "poll_url": {"type": "string", "description": "The polling endpoint for this payment."},
                    "checkout": ref("Checkout"),
                },
            }],
        },
        "Checkout": {
            "type": "object",
            "description": "What the shopper's browser needs to pay: `redirect_url`, or the gateway's client "
                           "parameters (Razorpay Checkout options, a Paytm form, a Stripe client secret).",
            "properties": {"redirect_url": {"type": "string"}},
        },
        "Customer": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "maxLength": 100},
                "email": {"type": "string", "maxLength": 254, "pattern": r"^([^@\s]+@[^@\s]+\.[^@\s]+)?$"},
                "phone": {"type": "string", "maxLength": 20, "pattern": r"^(\+?[0-9 ()-]{6,20})?$"},
            },
        },
        "CreatePayment": {
            "type": "object", "additionalProperties": False,
            "required": ["order_id", "amount", "currency", "gateway"],
            "properties": {
                "order_id": {"type": "string", "pattern": ORDER_ID_PATTERN,
                             "description": "Your order id; the same one again is the same payment."},
                "amount": {"type": "integer", "minimum": 1, "maximum": MAX_AMOUNT,
                           "description": "In the currency's minor unit: 49900 is ₹499.00. Never a float."},
                "currency": {"type": "string", "enum": [*sorted(EXPONENTS), *sorted(c.lower() for c in EXPONENTS)],
                             "description": "ISO 4217 (answered in upper case)."},
                "gateway": {"type": "string", "enum": list(KNOWN)},
                "customer": nullable(ref("Customer")),
                "return_url": nullable({"type": "string", "format": "uri", "maxLength": 2048,
                                        "pattern": "^https?://[^/]",
                                        "description": "Where the status page sends the shopper when done."}),
                "metadata": nullable({
                    "type": "object", "maxProperties": 20, "propertyNames": {"maxLength": 40},
                    "additionalProperties": {"type": "string", "maxLength": 500},
                }),
            },
            "example": {"order_id": "order-1001", "amount": 49900, "currency": "INR", "gateway": "sandbox",
                        "customer": {"name": "Asha", "email": "asha@example.com"},
                        "return_url": "https://shop.example/orders/1001"},
        },
        "Resolution": {
            "type": "object", "additionalProperties": False, "required": ["status", "note"],
            "properties": {
                "status": {"type": "string", "enum": list(lifecycle.RESOLUTIONS)},
                "note": {"type": "string", "minLength": 1, "maxLength": 1000,
                         "description": "Why: kept on the payment's event log."},
            },
            "example": {"status": "succeeded", "note": "Customer paid 10 INR short; accepted by phone."},
        },
        "PaymentList": {
            "type": "object", "required": ["data", "next_cursor"], "additionalProperties": False,
            "properties": {"data": {"type": "array", "items": ref("Payment")},
                           "next_cursor": nullable({"type": "string"})},
        },
        "Event": {
            "type": "object",
            "required": ["id", "source", "status", "applied", "reason", "gateway_event_id", "payload", "received_at"],
            "properties": {
                "id": {"type": "integer"},
                "source": {"type": "string", "enum": list(EVENT_SOURCES)},
                "kind": nullable({"type": "string", "enum": [k.value for k in lifecycle.Kind],
                                  "description": "What the update says happened (null on events recorded "
                                                 "before kinds existed)."}),
                "status": {"type": "string", "description": "The status the update leads to."},
                "gateway_status": nullable({"type": "string"}),
                "applied": {"type": "boolean"},
                "reason": nullable({"type": "string", "description": "Why not applied, or why needs_review: "
                                                                      "`duplicate`, `illegal_transition`, "
                                                                      "`amount_mismatch`, `no_change`, "
                                                                      "`gateway_unreachable`…"}),
                "status_before": nullable(statuses),
                "status_after": nullable(statuses),
                "gateway_event_id": nullable({"type": "string"}),
                "amount_received": nullable({"type": "integer"}),
                "currency": nullable({"type": "string"}),
                "payload": {"description": "The update as received, secrets and card data removed."},
                "received_at": timestamp,
            },
        },
        "CallbackAnswer": {
            "type": "object", "required": ["ok", "result"],
            "properties": {"ok": {"const": True},
                           "result": {"type": "string", "enum": ["applied", "duplicate", "not_applied", "ignored"]}},
        },
        "PayAtomAnswer": {
            "type": "object", "required": ["hash_status", "acknowledge"],
            "properties": {"hash_status": {"type": "string"}, "acknowledge": {"type": "string", "enum": ["yes", "no"]}},
        },
        "Health": {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}},
        "Readiness": {
            "type": "object", "required": ["status", "checks"],
            "properties": {
                "status": {"type": "string", "enum": ["ready", "unavailable"]},
                "checks": {"type": "object",
                           "additionalProperties": {"type": "string", "enum": ["ok", "off", "error"]}},
            },
        },
        "DashboardData": {
            "type": "object", "required": ["payments", "counts"],
            "properties": {"payments": {"type": "array", "items": ref("Payment")},
                           "counts": {"type": "object", "additionalProperties": {"type": "integer"}}},
        },
        "SandboxTransaction": {
            "type": "object", "required": ["transaction_id", "status", "amount", "amount_requested", "currency"],
            "properties": {"transaction_id": {"type": "string"},
                           "status": {"type": "string", "enum": ["processing", "success", "failure"]},
                           "amount": nullable({"type": "integer",
                                               "description": "What the shopper paid; null until paid."}),
                           "amount_requested": {"type": "integer"}, "currency": {"type": "string"}},
        },
        "MerchantNotification": {
            "type": "object", "required": ["id", "type", "payment"],
            "properties": {"id": {"type": "string", "description": "The same as the `webhook-id` header."},
                           "type": {"type": "string", "enum": [f"payment.{s}" for s in lifecycle.STATUSES]},
                           "payment": ref("Payment")},
        },
    }


SECURITY_SCHEMES: dict[str, Schema] = {
    "apiKey": {"type": "http", "scheme": "bearer",
               "description": "`Authorization: Bearer <PAYHUB_API_KEY>`: the merchant backend and operators."},
    "subscribeToken": {"type": "apiKey", "in": "header", "name": "X-Payhub-Token",
                       "description": "A payment's `subscribe_token`: reads that one payment's public view."},
    "subscribeTokenQuery": {"type": "apiKey", "in": "query", "name": "token",
                            "description": "The subscribe token as `?token=` (for links and EventSource-less "
                                           "clients)."},
    "metricsToken": {"type": "http", "scheme": "bearer",
                     "description": "`Authorization: Bearer <PAYHUB_METRICS_TOKEN>` for `/metrics`, when that is set."},
    "operatorSession": {"type": "apiKey", "in": "cookie", "name": "session",
                        "description": "The dashboard's session cookie, set by `POST /dashboard/signin`."},
    "sandboxSignature": {"type": "apiKey", "in": "header", "name": "X-Payhub-Signature",
                         "description": "`sha256=<hex HMAC-SHA256 of the raw body with "
                                        "PAYHUB_SANDBOX_WEBHOOK_SECRET>`."},
    "razorpaySignature": {"type": "apiKey", "in": "header", "name": "X-Razorpay-Signature",
                          "description": "Hex HMAC-SHA256 of the raw body with PAYHUB_RAZORPAY_WEBHOOK_SECRET."},
    "stripeSignature": {"type": "apiKey", "in": "header", "name": "Stripe-Signature",
                        "description": "`t=<unix time>,v1=<hex HMAC-SHA256 of \"t.body\">`, 300 s tolerance."},
}


# --------------------------------------------------------------------------------------------
# Operations


def _merchant_api() -> dict[str, Schema]:
    bearer = [{"apiKey": []}]
    payment = {"description": "The payment.", "content": json_content(ref("Payment"))}
    return {
        "/api/payments": {
            "post": {
                "tags": ["Merchant API"], "operationId": "createPayment", "summary": "Create a payment",
                "description": "Idempotent by `order_id`: the same body again answers 200 with the same payment "
                               "(and the same checkout); a different body 409. A gateway that is down or refuses "
                               "answers 502, and retrying the same request reuses the same payment id.",
                "security": bearer,
                "requestBody": {"required": True, "content": json_content(ref("CreatePayment"))},
                "responses": {
                    "201": {"description": "Created and opened at the gateway.",
                            "content": json_content(ref("CreatedPayment")),
                            "links": _payment_links("$response.body#/id", "$response.body#/subscribe_token")},
                    "200": {"description": "The same request was made before: the same payment.",
                            "content": json_content(ref("CreatedPayment"))},
                    "400": error("`invalid_request` (naming `field`), `invalid_json`, `gateway_disabled` or "
                                 "`not_accepted_by_gateway`."),
                    "401": UNAUTHORIZED,
                    "409": error("`order_conflict`: the order id was used with a different body."),
                    "413": TOO_LARGE,
                    "415": error("`unsupported_media_type`: send `Content-Type: application/json`."),
                    "502": error("`gateway_error`: the gateway is unreachable or refused; retry the same request."),
                },
            },
            "get": {
                "tags": ["Merchant API"], "operationId": "listPayments", "summary": "List payments, newest first",
                "security": bearer,
                "parameters": [
                    {"name": "status", "in": "query", "schema": {"type": "string", "enum": list(lifecycle.STATUSES)}},
                    {"name": "gateway", "in": "query", "schema": {"type": "string", "enum": list(KNOWN)}},
                    {"name": "order_id", "in": "query", "schema": {"type": "string"}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100,
                                                                "default": 20}},
                    {"name": "cursor", "in": "query", "schema": {"type": "string"},
                     "description": "`next_cursor` of the previous page."},
                ],
                "responses": {
                    "200": {"description": "A page of payments.", "content": json_content(ref("PaymentList"))},
                    "400": error("`invalid_request`: a bad filter, limit or cursor (named in `field`)."),
                    "401": UNAUTHORIZED,
                },
            },
        },
        "/api/payments/{payment_id}": {
            "parameters": [PAYMENT_ID],
            "get": {
                "tags": ["Merchant API"], "operationId": "getPayment", "summary": "A payment and its audit log",
                "security": bearer,
                "responses": {"200": payment, "401": UNAUTHORIZED, "404": NOT_FOUND},
            },
        },
        "/api/payments/{payment_id}/refresh": {
            "parameters": [PAYMENT_ID],
            "post": {
                "tags": ["Merchant API", "Shopper's browser"], "operationId": "refreshPayment",
                "summary": "Ask the gateway now",
                "description": "Polls the gateway and applies its answer. With the API key it answers the full "
                               "payment; with the subscribe token, the public view. Once per "
                               "`PAYHUB_REFRESH_INTERVAL` (5 s) per payment, else 429.",
                "security": [*bearer, {"subscribeToken": []}, {"subscribeTokenQuery": []}],
                "parameters": [TOKEN_HEADER, TOKEN_QUERY],
                "responses": {
                    "200": {"description": "The payment after the gateway's answer.",
                            "content": json_content({"anyOf": [ref("Payment"), ref("PublicView")]})},
                    "401": error("`unauthorized`: neither the API key nor this payment's token."),
                    "404": NOT_FOUND,
                    "413": TOO_LARGE,
                    "429": error("`rate_limited`: this payment was refreshed moments ago; try again shortly."),
                    "502": error("`gateway_error`: the gateway did not answer."),
                },
            },
        },
        "/api/payments/{payment_id}/cancel": {
            "parameters": [PAYMENT_ID],
            "post": {
                "tags": ["Merchant API"], "operationId": "cancelPayment", "summary": "Cancel a pending payment",
                "security": bearer,
                "responses": {
                    "200": payment, "401": UNAUTHORIZED, "404": NOT_FOUND, "413": TOO_LARGE,
                    "409": error("`not_cancellable`: only a pending payment can be cancelled "
                                 "(`payment_status` says what it is)."),
                },
            },
        },
        "/api/payments/{payment_id}/resolve": {
            "parameters": [PAYMENT_ID],
            "post": {
                "tags": ["Merchant API"], "operationId": "resolvePayment",
                "summary": "An operator's decision on a payment under review",
                "description": "For a `needs_review` payment (money arrived, but not the amount or currency asked "
                               "for): `succeeded` keeps the money, `refund_pending` records that it is being "
                               "returned. Applied through the same door as every update (source `operator`, the "
                               "note kept on the event); 409 from any other status.",
                "security": bearer,
                "requestBody": {"required": True, "content": json_content(ref("Resolution"))},
                "responses": {
                    "200": payment,
                    "400": error("`invalid_request` (naming `field`) or `invalid_json`."),
                    "401": UNAUTHORIZED, "404": NOT_FOUND,
                    "409": error("`not_under_review`: only a needs_review payment can be resolved "
                                 "(`payment_status` says what it is)."),
                    "413": TOO_LARGE,
                    "415": error("`unsupported_media_type`: send `Content-Type: application/json`."),
                },
            },
        },
        "/api/payments/{payment_id}/status": {
            "parameters": [PAYMENT_ID],
            "get": {
                "tags": ["Shopper's browser"], "operationId": "pollStatus", "summary": "The polling fallback",
                "description": "The public view, for browsers that cannot hold a socket. Send the last `ETag` in "
                               "`If-None-Match` to get 304 when nothing changed; add `?wait=N` to hold the request "
                               "up to N seconds until the version changes. The API key is not accepted here: only "
                               "the payment's subscribe token.",
                "security": [{"subscribeToken": []}, {"subscribeTokenQuery": []}],
                "parameters": [
                    TOKEN_HEADER, TOKEN_QUERY,
                    {"name": "wait", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 30},
                     "description": "Long poll: seconds to wait for a newer version."},
                    {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": {"description": "The public view.", "content": json_content(ref("PublicView")),
                            "headers": {"ETag": {"schema": {"type": "string"}, "required": True}}},
                    "304": {"description": "Not modified since the ETag sent.",
                            "headers": {"ETag": {"schema": {"type": "string"}, "required": True}}},
                    "400": error("`invalid_request`: `wait` is not an integer from 0 to 30."),
                    "401": error("`invalid_token`: no valid subscribe token for this payment."),
                    "404": NOT_FOUND,
                    "429": {**error("`rate_limited`: too many polls from this address (`Retry-After` says how "
                                    "long to wait), or this process holds PAYHUB_LONG_POLL_MAX long polls "
                                    "already."),
                            "headers": {"Retry-After": {**RETRY_AFTER["Retry-After"], "required": False}}},
                },
            },
        },
    }


def _payment_links(payment_id: str, token: str) -> dict[str, Schema]:
    """OpenAPI links from a created payment to what can be done with it (schemathesis follows them)."""
    by_id = {"payment_id": payment_id}
    txn = {"txn_id": "$response.body#/gateway_order_id"}
    return {
        "GetPayment": {"operationId": "getPayment", "parameters": by_id},
        "RefreshPayment": {"operationId": "refreshPayment", "parameters": by_id},
        "CancelPayment": {"operationId": "cancelPayment", "parameters": by_id},
        "ResolvePayment": {"operationId": "resolvePayment", "parameters": by_id},
        "DashboardPayment": {"operationId": "dashboardPayment", "parameters": by_id},
        "DashboardResolve": {"operationId": "dashboardResolve", "parameters": by_id},
        "PollStatus": {"operationId": "pollStatus", "parameters": {**by_id, "header.X-Payhub-Token": token}},
        "StatusPage": {"operationId": "statusPage", "parameters": {**by_id, "query.token": token}},
        "SandboxCheckout": {"operationId": "sandboxCheckout", "parameters": txn},
        "SandboxDecide": {"operationId": "sandboxDecide", "parameters": txn},
        "SandboxStatus": {"operationId": "sandboxStatus", "parameters": txn},
    }


def _webhooks() -> dict[str, Schema]:
    def callback(gateway: str, summary: str, body: Schema, security: list[Schema] | None = None) -> Schema:
        ok = {"description": "Committed (or a duplicate, or not applicable): the gateway stops retrying.",
              "content": json_content(ref("CallbackAnswer"))}
        operation = {
            "tags": ["Gateway callbacks"], "operationId": f"{gateway}Webhook", "summary": summary,
            "description": "Answered 2xx only once the event is committed. Verified on the raw bytes; a bad or "
                           "missing signature writes nothing. 404 when the gateway is not configured, or for an "
                           "authentic event about a payment PayHub does not have yet (the gateway retries).",
            "requestBody": {"required": True, "content": body},
            "responses": {
                "200": ok,
                "400": error("`invalid_signature` or `bad_callback`: nothing was written."),
                "404": error("`not_found` (gateway not configured) or `unknown_payment` (retry later)."),
                "413": TOO_LARGE,
                "415": error("`unsupported_media_type`."),
            },
        }
        if security:
            operation["security"] = security
        return {"post": operation}

    free_json = json_content({"type": "object"})
    paytm_form = {"application/x-www-form-urlencoded": {"schema": {
        "type": "object", "properties": {"ORDERID": {"type": "string"}, "STATUS": {"type": "string"},
                                         "TXNAMOUNT": {"type": "string"}, "CHECKSUMHASH": {"type": "string"}}}}}
    sandbox = json_content({
        "type": "object", "required": ["transaction_id", "status"],
        "properties": {"transaction_id": {"type": "string"},
                       "status": {"type": "string", "description": "`success`, `failure`, anything else: processing"},
                       "amount": {"type": "integer", "description": "Received, in minor units."},
                       "event_id": {"type": "string"}},
    })
    paths = {
        "/webhooks/sandbox": callback("sandbox", "Sandbox gateway callback", sandbox, [{"sandboxSignature": []}]),
        "/webhooks/razorpay": callback("razorpay", "Razorpay webhook events", free_json, [{"razorpaySignature": []}]),
        "/webhooks/paytm": callback("paytm", "Paytm server-to-server notification (CHECKSUMHASH in the body)",
                                    {**paytm_form, **free_json}),
        "/webhooks/payatom": callback("payatom", "PayAtom callback (AES `post_hash` in the body)", free_json),
        "/webhooks/stripe": callback("stripe", "Stripe webhook events", free_json, [{"stripeSignature": []}]),
    }
    payatom = paths["/webhooks/payatom"]["post"]
    payatom["requestBody"] = {"required": False, "content": {"application/json": {"schema": {}}}}
    payatom["description"] = ("Always answered 200 with PayAtom's own JSON: `acknowledge: \"yes\"` once the update "
                              "is committed (or was already), `\"no\"` with `HashMismatch` for a bad hash or an "
                              "unknown order. 404 when PayAtom is not configured.")
    payatom["responses"]["200"] = {"description": "PayAtom's acknowledgement.",
                                   "content": json_content(ref("PayAtomAnswer"))}
    returns = {
        "303": redirect("Verified and applied: on to the status page `/pay/{payment_id}?token=…`."),
        "400": html("The response could not be verified; nothing changed."),
        "404": html("Unknown payment, or the gateway is not configured."),
        "413": TOO_LARGE,
        "429": PAGE_RATE_LIMITED,
    }

    def browser_return(gateway: str, fields: dict[str, Schema]) -> Schema:
        body = form_body(fields)
        common = {"tags": ["Gateway callbacks"], "responses": returns,
                  "description": "Where the gateway sends the shopper's browser after paying. Verified, applied, "
                                 "then redirected to the status page."}
        query = [{"name": name, "in": "query", "schema": schema} for name, schema in fields.items()]
        return {
            "get": {**common, "operationId": f"{gateway}ReturnGet", "summary": f"{gateway} browser return (GET)",
                    "parameters": query},
            "post": {**common, "operationId": f"{gateway}Return", "summary": f"{gateway} browser return",
                     "requestBody": body},
        }

    text = {"type": "string"}
    paths["/return/razorpay"] = browser_return("razorpay", {
        "razorpay_payment_id": text, "razorpay_order_id": text, "razorpay_signature": text})
    paths["/return/paytm"] = browser_return("paytm", {"ORDERID": text, "STATUS": text, "CHECKSUMHASH": text})
    return paths


def _pages() -> dict[str, Schema]:
    from .web.pages import CATALOGUE

    pages = ["Pages"]
    return {
        "/": {"get": {"tags": pages, "operationId": "demoShop", "summary": "The demo shop (sandbox payments)",
                      "description": "On when PAYHUB_DEMO_SHOP is (by default, when the sandbox is).",
                      "responses": {"200": html("The shop."), "404": html("The demo shop is off.")}}},
        "/shop/orders": {"post": {
            "tags": pages, "operationId": "demoShopOrder", "summary": "The demo shop's checkout button",
            "description": "Creates a sandbox payment (the only kind the demo shop makes) and sends the shopper "
                           "to the sandbox's checkout. Rate limited per client address.",
            "requestBody": form_body({"item": {"type": "string", "enum": [item[0] for item in CATALOGUE]},
                                      "gateway": {"type": "string", "enum": ["sandbox"]}}, ("item",)),
            "responses": {"303": redirect("On to the sandbox's checkout."), "200": html("A hand-off page."),
                          "400": html("Unknown item, or a gateway other than the sandbox."),
                          "404": html("The demo shop is off."), "413": TOO_LARGE, "429": PAGE_RATE_LIMITED,
                          "502": html("The payment could not be started.")},
        }},
        "/pay/{payment_id}": {"get": {
            "tags": pages, "operationId": "statusPage", "summary": "The shopper's status page",
            "description": "Live status over Socket.IO, polling every 5 s as a fallback.",
            "parameters": [PAYMENT_ID, {"name": "token", "in": "query", "required": True, "schema": {"type": "string"},
                                        "description": "The payment's subscribe token."}],
            "responses": {"200": html("The status page."), "403": html("Missing or invalid token."),
                          "404": html("No such payment."), "429": PAGE_RATE_LIMITED},
        }},
        "/vendor/{name}": {"get": {
            "tags": pages, "operationId": "vendorFile", "summary": "The Socket.IO browser client (from npm)",
            "parameters": [path_param("name", "File name.", {"type": "string",
                                                             "enum": ["socket.io.min.js", "socket.io.min.js.map"]})],
            "responses": {
                "200": {"description": "The file.", "content": {"text/javascript": {"schema": {"type": "string"}},
                                                                "application/json": {"schema": {}}}},
                "404": {"description": "No such file.", "content": {"text/plain": {"schema": {"type": "string"}}}},
                "503": {"description": "`npm ci` was not run.",
                        "content": {"text/plain": {"schema": {"type": "string"}}}},
            },
        }},
        "/static/{filename}": {"get": {
            "tags": pages, "operationId": "staticFile", "summary": "PayHub's own scripts and styles (payhub.js…)",
            "parameters": [{**path_param("filename", "e.g. `payhub.js`."), "example": "payhub.js"}],
            "responses": {"200": {"description": "The file.", "content": {"*/*": {"schema": {}}}},
                          "404": {"description": "No such file.", "content": {"*/*": {"schema": {}}}}},
        }},
        "/sandbox/checkout/{txn_id}": {
            "parameters": [path_param("txn_id", "The sandbox transaction (the payment's `gateway_order_id`).")],
            "get": {"tags": ["Sandbox gateway"], "operationId": "sandboxCheckout",
                    "summary": "The sandbox's hosted checkout page",
                    "responses": {"200": html("Pay, fail or abandon."), "404": html("No such transaction.")}},
            "post": {"tags": ["Sandbox gateway"], "operationId": "sandboxDecide", "summary": "The shopper's choice",
                     "requestBody": form_body({
                         "action": {"type": "string", "enum": ["pay", "fail", "abandon"]},
                         "delay": {"type": "string", "description": "Seconds before the callback (at most 30)."},
                         "amount": {"type": "string", "description": "Amount paid, minor units (default: all)."}},
                         ("action",)),
                     "responses": {"303": redirect("Back to the return URL."), "400": html("Unknown action."),
                                   "404": html("No such transaction."), "413": TOO_LARGE}},
        },
        "/sandbox/status/{txn_id}": {"get": {
            "tags": ["Sandbox gateway"], "operationId": "sandboxStatus",
            "summary": "The sandbox's status API (what the sweep polls)",
            "parameters": [path_param("txn_id", "The sandbox transaction.")],
            "responses": {"200": {"description": "The sandbox's own view.",
                                  "content": json_content(ref("SandboxTransaction"))},
                          "404": error("`not_found`.")},
        }},
        "/docs": {"get": {"tags": pages, "operationId": "apiDocs", "summary": "This document, rendered (Swagger UI)",
                          "responses": {"200": html("The API reference page.")}}},
        "/openapi.json": {"get": {"tags": pages, "operationId": "openapi", "summary": "This document",
                                  "responses": {"200": {"description": "OpenAPI 3.1.",
                                                        "content": json_content({"type": "object"})}}}},
        "/vendor/swagger-ui/{name}": {"get": {
            "tags": pages, "operationId": "swaggerUiFile", "summary": "Swagger UI's files (from npm)",
            "parameters": [path_param("name", "File name.", {"type": "string", "enum": list(SWAGGER_UI_FILES)})],
            "responses": {
                "200": {"description": "The file.", "content": {"*/*": {"schema": {}}}},
                "404": {"description": "No such file.", "content": {"text/plain": {"schema": {"type": "string"}}}},
                "503": {"description": "`npm ci` was not run.",
                        "content": {"text/plain": {"schema": {"type": "string"}}}},
            },
        }},
    }


SWAGGER_UI_FILES = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css"}


def _operations() -> dict[str, Schema]:
    operator = [{"apiKey": []}, {"operatorSession": []}]
    unauthorized = error("`unauthorized`: sign in first (or send the API key).")
    status_filters = [
        {"name": "status", "in": "query", "schema": {"type": "string"}, "description": "Ignored unless a status."},
        {"name": "gateway", "in": "query", "schema": {"type": "string"}, "description": "Ignored unless a gateway."},
    ]
    return {
        "/healthz": {"get": {"tags": ["Operations"], "operationId": "healthz", "summary": "The process is up",
                             "responses": {"200": {"description": "Up.", "content": json_content(ref("Health"))}}}},
        "/readyz": {"get": {
            "tags": ["Operations"], "operationId": "readyz", "summary": "The database and message queue answer",
            "responses": {"200": {"description": "Ready.", "content": json_content(ref("Readiness"))},
                          "503": {"description": "Not ready: `checks` says which.",
                                  "content": json_content(ref("Readiness"))}},
        }},
        "/metrics": {"get": {
            "tags": ["Operations"], "operationId": "metrics", "summary": "Prometheus metrics of this process",
            "description": "Open unless PAYHUB_METRICS_TOKEN is set; then it needs `Authorization: Bearer <token>`.",
            "security": [{}, {"metricsToken": []}],
            "responses": {"200": {"description": "Prometheus text format.",
                                  "content": {"text/plain": {"schema": {"type": "string"}}}},
                          "401": {**error("`unauthorized`: PAYHUB_METRICS_TOKEN is set and was not sent."),
                                  "headers": {"WWW-Authenticate": {"schema": {"type": "string"}, "required": True}}}},
        }},
        "/dashboard": {"get": {
            "tags": ["Operations"], "operationId": "dashboard", "summary": "The operators' dashboard",
            "security": [*operator, {}],
            "responses": {"200": html("The dashboard."), "401": html("The sign-in form.")},
        }},
        "/dashboard/signin": {"post": {
            "tags": ["Operations"], "operationId": "dashboardSignIn", "summary": "Sign in with the API key",
            "requestBody": form_body({"api_key": {"type": "string"}}, ("api_key",)),
            "description": "A form post carrying the page's CSRF token (`csrf_token`); rate limited per client "
                           "address.",
            "responses": {"303": redirect("Signed in: on to the dashboard (sets the session cookie)."),
                          "400": STALE_FORM, "401": html("Wrong key."), "413": TOO_LARGE, "429": PAGE_RATE_LIMITED},
        }},
        "/dashboard/signout": {"post": {
            "tags": ["Operations"], "operationId": "dashboardSignOut", "summary": "Sign out",
            "description": "Ends the session on the server too (every process). Carries the CSRF token.",
            "responses": {"303": redirect("Signed out: back to the sign-in form."), "400": STALE_FORM,
                          "413": TOO_LARGE},
        }},
        "/dashboard/data/payments": {"get": {
            "tags": ["Operations"], "operationId": "dashboardPayments", "summary": "The dashboard's payment list",
            "security": operator, "parameters": status_filters,
            "responses": {"200": {"description": "The latest 100 payments and counts by status.",
                                  "content": json_content(ref("DashboardData"))},
                          "401": unauthorized},
        }},
        "/dashboard/payments/{payment_id}/resolve": {"post": {
            "tags": ["Operations"], "operationId": "dashboardResolve",
            "summary": "The dashboard's Resolve control (same as the API's resolve)",
            "security": operator, "parameters": [PAYMENT_ID],
            "requestBody": {"required": True, "content": json_content(ref("Resolution"))},
            "responses": {"200": {"description": "The payment.", "content": json_content(ref("Payment"))},
                          "400": error("`invalid_request`, `invalid_json`, or `csrf_failed` (a signed-in "
                                       "session must send its CSRF token as X-CSRFToken)."),
                          "401": unauthorized,
                          "404": NOT_FOUND, "409": error("`not_under_review`."), "413": TOO_LARGE,
                          "415": error("`unsupported_media_type`.")},
        }},
        "/dashboard/data/payments/{payment_id}": {"get": {
            "tags": ["Operations"], "operationId": "dashboardPayment", "summary": "One payment with its events",
            "security": operator, "parameters": [PAYMENT_ID],
            "responses": {"200": {"description": "The payment.", "content": json_content(ref("Payment"))},
                          "401": unauthorized, "404": NOT_FOUND},
        }},
    }


def _merchant_notifications() -> dict[str, Schema]:
    """OpenAPI 3.1 `webhooks`: what PayHub sends to PAYHUB_MERCHANT_WEBHOOK_URL."""
    headers = [
        {"name": "webhook-id", "in": "header", "required": True, "schema": {"type": "string"},
         "description": "The same on every retry of one message: deduplicate on it."},
        {"name": "webhook-timestamp", "in": "header", "required": True, "schema": {"type": "string"},
         "description": "Unix seconds of this attempt."},
        {"name": "webhook-signature", "in": "header", "required": True, "schema": {"type": "string"},
         "description": "`v1,<base64 HMAC-SHA256 of \"id.timestamp.body\" with the key of "
                        "PAYHUB_MERCHANT_WEBHOOK_SECRET (whsec_…)>` (Standard Webhooks)."},
    ]
    return {"paymentStatus": {"post": {
        "tags": ["Merchant notifications"], "operationId": "merchantNotification",
        "summary": "A payment's status changed",
        "description": "Every applied change, in order per payment, retried with exponential backoff until a 2xx "
                       "(first retry within 30 s, given up after about 24 h). Sent only when "
                       "PAYHUB_MERCHANT_WEBHOOK_URL is set.",
        "parameters": headers,
        "requestBody": {"required": True, "content": json_content(ref("MerchantNotification"))},
        "responses": {"2XX": {"description": "Received: PayHub stops retrying this message."}},
    }}}


DESCRIPTION = """\
PayHub creates payments at gateways, verifies every gateway callback, records each update in an
audit log and pushes every applied status change to the shopper's browser.

* **Merchant API** (`/api/payments…`): `Authorization: Bearer <PAYHUB_API_KEY>`. JSON in, JSON out.
  Amounts are integers in the currency's minor unit.
* **Shopper's browser**: the `subscribe_token` of one payment reads that payment's public view:
  Socket.IO event `subscribe` `{payment_id, token}` then `payment_status` on every change (see
  docs/realtime.md in the repository), or the polling endpoint below.
* **Errors** always have one shape: `{"error": {"code", "message", "field"?}}`.
* **Merchant notifications** (when `PAYHUB_MERCHANT_WEBHOOK_URL` is set) are listed under *Webhooks*.
"""


def build(public_url: str, version: str = "0.1.0") -> Schema:
    paths: dict[str, Schema] = {}
    for part in (_merchant_api(), _webhooks(), _pages(), _operations()):
        paths.update(part)
    return {
        "openapi": "3.1.0",
        "info": {"title": "PayHub", "version": version, "description": DESCRIPTION,
                 "license": {"name": "Proprietary", "identifier": "LicenseRef-Proprietary"}},
        "servers": [{"url": public_url}],
        "tags": [{"name": n} for n in ("Merchant API", "Shopper's browser", "Gateway callbacks", "Pages",
                                        "Sandbox gateway", "Operations", "Merchant notifications")],
        "paths": paths,
        "webhooks": _merchant_notifications(),
        "components": {"schemas": _schemas(), "securitySchemes": SECURITY_SCHEMES},
    }


def document(app: Flask) -> Schema:
    """The document for this app (its public URL in `servers`), built once."""
    cached = app.extensions.get("payhub.openapi")
    if cached is None:
        cached = app.extensions["payhub.openapi"] = build(app.config["PAYHUB"].public_url)
    return cached
