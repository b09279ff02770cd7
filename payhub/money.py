"""Currencies and exact conversion between minor units and decimal strings.

Amounts are integers in the currency's minor unit everywhere inside PayHub; gateways that
speak decimals (Paytm, PayAtom) convert here, at the edge, with no floats.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# ISO 4217 minor-unit exponents of the currencies PayHub knows.
EXPONENTS: dict[str, int] = {
    "INR": 2, "USD": 2, "EUR": 2, "GBP": 2, "BDT": 2, "PKR": 2, "AUD": 2, "CAD": 2,
    "SGD": 2, "AED": 2, "CHF": 2, "NZD": 2, "HKD": 2, "LKR": 2, "NPR": 2, "MYR": 2,
    "JPY": 0, "KRW": 0, "VND": 0, "KWD": 3, "BHD": 3, "OMR": 3, "JOD": 3,
}

# Far above any real payment, far below what a 64-bit column or a JS number can hold.
MAX_AMOUNT = 10**13

_DECIMAL = re.compile(r"\d+(\.\d+)?", re.ASCII)


class MoneyError(ValueError):
    """A value that is not an exact amount in the given currency."""


def exponent(currency: str) -> int:
    try:
        return EXPONENTS[currency]
    except KeyError:
        raise MoneyError(f"unknown currency {currency!r}") from None


def to_decimal_string(minor: int, currency: str, *, min_places: int | None = None) -> str:
    """10050 INR -> "100.50". `min_places=0` trims trailing zeros ("100", "100.5")."""
    exp = exponent(currency)
    value = Decimal(minor).scaleb(-exp)
    text = f"{value:.{exp}f}"
    if min_places == 0 and "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def from_decimal_string(text: str, currency: str) -> int:
    """"100.50" INR -> 10050, exactly; "100.505" INR is an error, not a rounding."""
    # ASCII digits only, nothing around them: Decimal() would also take Arabic-Indic digits or " 1\n".
    if not isinstance(text, str) or not _DECIMAL.fullmatch(text):
        raise MoneyError(f"not a decimal amount: {text!r}")
    try:
        value = Decimal(text).scaleb(exponent(currency))
    except InvalidOperation as exc:  # pragma: no cover - the regex already guards this
        raise MoneyError(str(exc)) from None
    if value != value.to_integral_value():
        raise MoneyError(f"{text!r} has more decimals than {currency} allows")
    if value > MAX_AMOUNT:
        raise MoneyError(f"{text!r} is out of range")
    return int(value)
