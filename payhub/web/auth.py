"""Who may do what: the merchant's API key, subscribe tokens, and operators (the API key or a
signed-in dashboard session), checked alike by HTTP views and Socket.IO handlers."""

from __future__ import annotations

import hmac

from flask import current_app, request, session

from .. import operator_sessions, tokens
from .errors import ApiError

# Where a signed-in dashboard session keeps its token (payhub/operator_sessions.py).
SESSION_KEY = "payhub_operator"


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


def is_operator() -> bool:
    """A request (or Socket.IO connection) made with the API key or a signed-in session."""
    if has_api_key():
        return True
    token = session.get(SESSION_KEY)
    return isinstance(token, str) and operator_sessions.is_open(token, settings())
