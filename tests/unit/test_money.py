from __future__ import annotations

import pytest

from payhub.money import MoneyError, exponent, from_decimal_string, to_decimal_string


@pytest.mark.parametrize(("currency", "exp"), [("INR", 2), ("USD", 2), ("EUR", 2), ("GBP", 2), ("BDT", 2),
                                               ("PKR", 2), ("JPY", 0), ("KWD", 3)])
def test_minor_unit_exponents(currency, exp):
    assert exponent(currency) == exp


@pytest.mark.parametrize(("minor", "currency", "text"), [
    (10050, "INR", "100.50"), (1, "INR", "0.01"), (100, "INR", "1.00"), (0, "USD", "0.00"),
    (500, "JPY", "500"), (1234, "KWD", "1.234"), (123456789012, "INR", "1234567890.12"),
])
def test_to_and_from_decimal_are_exact(minor, currency, text):
    assert to_decimal_string(minor, currency) == text
    assert from_decimal_string(text, currency) == minor


def test_trimmed_form_for_gateways_that_send_whole_rupees():
    assert to_decimal_string(10000, "INR", min_places=0) == "100"
    assert to_decimal_string(10050, "INR", min_places=0) == "100.5"
    assert from_decimal_string("100", "INR") == 10000 and from_decimal_string("100.5", "INR") == 10050


@pytest.mark.parametrize("text", ["100.505", "-1", "1e3", "abc", "", " ", "1,00", "NaN", "Infinity", "0x10",
                                  "99999999999999999.00", "\u0661\u0660\u0660", " 100", "100\n", "\uff11\uff10\uff10"])
def test_inexact_or_malformed_amounts_are_errors(text):
    with pytest.raises(MoneyError):
        from_decimal_string(text, "INR")


def test_unknown_currency_is_an_error():
    with pytest.raises(MoneyError):
        to_decimal_string(100, "XYZ")
