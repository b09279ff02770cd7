"""Validation of POST /api/payments bodies: strict, every error names its field."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from ..money import EXPONENTS, MAX_AMOUNT
from .errors import ApiError

# Whole values only (fullmatch): with `$`, "order-1\n" would pass as a second order id.
ORDER_ID = re.compile(r"[A-Za-z0-9_\-.@]{1,64}")
FIELDS = {"order_id", "amount", "currency", "gateway", "customer", "return_url", "metadata"}
CUSTOMER_FIELDS = {"name": 100, "email": 254, "phone": 20}
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
PHONE = re.compile(r"\+?[0-9 ()\-]{6,20}")


def bad(message: str, field: str) -> ApiError:
    return ApiError(400, "invalid_request", message, field)


def validate_create(body: Any, known_gateways: tuple[str, ...]) -> dict[str, Any]:
    """The normalized create request, or ApiError(400) naming the first bad field."""
    if not isinstance(body, dict):
        raise bad("body must be a JSON object", "body")
    extra = sorted(set(body) - FIELDS)
    if extra:
        raise bad(f"unknown field {extra[0]!r}", extra[0])
    order_id = body.get("order_id")
    if not isinstance(order_id, str) or not ORDER_ID.fullmatch(order_id):
        raise bad("order_id must be 1-64 characters of letters, digits and _-.@", "order_id")
    currency = body.get("currency")
    if not isinstance(currency, str) or currency.upper() not in EXPONENTS:
        raise bad(f"currency must be one of {', '.join(sorted(EXPONENTS))}", "currency")
    amount = body.get("amount")
    if type(amount) is not int or not 0 < amount <= MAX_AMOUNT:
        raise bad("amount must be a positive integer in the currency's minor unit (e.g. paise)", "amount")
    gateway = body.get("gateway")
    if not isinstance(gateway, str) or gateway not in known_gateways:
        raise bad(f"gateway must be one of {', '.join(known_gateways)}", "gateway")
    return {
        "order_id": order_id, "amount": amount, "currency": currency.upper(), "gateway": gateway,
        "customer": _customer(body.get("customer")),
        "return_url": _return_url(body.get("return_url")),
        "metadata": _metadata(body.get("metadata")),
    }


def _customer(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad("customer must be an object", "customer")
    for key, item in value.items():
        limit = CUSTOMER_FIELDS.get(key)
        if limit is None:
            raise bad(f"unknown field {key!r}", f"customer.{key}")
        if not isinstance(item, str) or len(item) > limit:
            raise bad(f"customer.{key} must be a string of at most {limit} characters", f"customer.{key}")
    if value.get("email") and not EMAIL.fullmatch(value["email"]):
        raise bad("customer.email is not an email address", "customer.email")
    if value.get("phone") and not PHONE.fullmatch(value["phone"]):
        raise bad("customer.phone is not a phone number", "customer.phone")
    return dict(value)


def _return_url(value: Any) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value) if isinstance(value, str) and len(value) <= 2048 else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise bad("return_url must be an absolute http(s) URL", "return_url")
    return value


def _metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > 20:
        raise bad("metadata must be an object of at most 20 string pairs", "metadata")
    for key, item in value.items():
        if len(key) > 40 or not isinstance(item, str) or len(item) > 500:
            raise bad("metadata keys are at most 40 characters, values strings of at most 500", f"metadata.{key}")
    return dict(value)
