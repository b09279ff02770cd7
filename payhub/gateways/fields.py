"""Checks on the fields of an authentic callback or status answer, shared by the adapters. Pure: no I/O.

Each raises BadCallback for a value PayHub cannot trust for money; the adapters decide what is
optional or defaulted at the call site, so every difference between gateways stays visible there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ..money import MoneyError, from_decimal_string
from .base import BadCallback

# Far above any real payment, far below where a float or a database column could lose digits.
MAX_AMOUNT = 10**15
# A rupee amount as Indian gateways write it ("100", "100.5", "100.50"): ASCII digits only, no
# spaces, signs or exponents.
RUPEES = re.compile(r"[0-9]{1,15}(\.[0-9]{1,2})?")


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup, whatever mapping the web layer handed over."""
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == name.lower()), None)
    return value


def json_object(body: bytes) -> dict[str, Any]:
    """The JSON object in a callback body."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # deep nesting is a RecursionError
        raise BadCallback("body is not JSON") from None
    if not isinstance(data, dict):
        raise BadCallback("body must be a JSON object")
    return data


def text(data: Mapping[str, Any], key: str, *, limit: int = 100, required: bool = True) -> str | None:
    """A non-empty string of at most `limit` characters; None only when absent and not required."""
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > limit:
        raise BadCallback(f"{key} must be a non-empty string")
    return value


def amount(data: Mapping[str, Any], key: str, *, default: int | None = None) -> int:
    """An integer amount in minor units, 0 <= amount < MAX_AMOUNT (a bool is refused).

    A missing key is refused unless the gateway documents a `default` for it."""
    value = data.get(key, default)
    if type(value) is not int or not 0 <= value < MAX_AMOUNT:
        raise BadCallback(f"{key} must be an integer in minor units")
    return value


def currency(data: Mapping[str, Any]) -> str:
    """data["currency"], a 3-letter ASCII code, upper-cased."""
    value = data.get("currency")
    if not isinstance(value, str) or len(value) != 3 or not value.isascii() or not value.isalpha():
        raise BadCallback("currency must be a 3-letter code")
    return value.upper()


def rupees_to_paise(value: str, name: str) -> int:
    """A rupee amount string -> paise, exactly; `name` says which amount in the BadCallback."""
    try:
        if not RUPEES.fullmatch(value):
            raise MoneyError(value)
        return from_decimal_string(value, "INR")
    except MoneyError:
        raise BadCallback(f"{name} is not an amount in rupees") from None
