"""Subscribe tokens: signed, expiring, bound to one payment id."""

from __future__ import annotations

from functools import lru_cache

from itsdangerous import BadSignature, URLSafeTimedSerializer

_SALT = "payhub.subscribe.v1"


@lru_cache(maxsize=8)
def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    # Built once per key: every create and every subscribe signs or verifies a token.
    return URLSafeTimedSerializer(secret_key, salt=_SALT)


def issue(secret_key: str, payment_id: str) -> str:
    return _serializer(secret_key).dumps({"p": payment_id})


def verify(secret_key: str, token: object, payment_id: str, max_age: int) -> bool:
    """True only for an unexpired, untampered token issued for exactly this payment."""
    if not isinstance(token, str) or not token or len(token) > 512:
        return False
    try:
        data = _serializer(secret_key).loads(token, max_age=max_age)
    except BadSignature:  # SignatureExpired is a subclass
        return False
    return isinstance(data, dict) and data.get("p") == payment_id
