"""Merchant API key and subscribe-token checks."""

from __future__ import annotations

import hmac

from flask import current_app, request

from .. import tokens
from .errors import ApiError


def settings():
    return current_app.config["PAYHUB"]


def has_api_key() -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), settings().api_key.encode())


def require_api_key() -> None:
    if not has_api_key():
        raise ApiError(401, "unauthorized", "missing or invalid API key (Authorization: Bearer <key>)")


def subscribe_token() -> str | None:
    return request.headers.get("X-Payhub-Token") or request.args.get("token")


def has_token_for(payment_id: str) -> bool:
    s = settings()
    return tokens.verify(s.secret_key, subscribe_token(), payment_id, s.token_ttl)
