"""The field checks every adapter shares (payhub/gateways/fields.py): what each one refuses."""

from __future__ import annotations

import pytest

from payhub.gateways.base import BadCallback
from payhub.gateways.fields import amount, currency, header, json_object, rupees_to_paise, text


@pytest.mark.parametrize("value", [True, 1.0, "100", -1, 10**15, None, [100]])
def test_amount_is_an_integer_in_minor_units_below_the_maximum(value):
    with pytest.raises(BadCallback, match="amount must be an integer"):
        amount({"amount": value}, "amount")


def test_amount_default_applies_only_to_a_missing_key():
    assert amount({}, "amount_refunded", default=0) == 0
    assert amount({"amount_refunded": 10**15 - 1}, "amount_refunded", default=0) == 10**15 - 1
    with pytest.raises(BadCallback):
        amount({}, "amount")
    with pytest.raises(BadCallback):  # present but null is not "missing"
        amount({"amount_refunded": None}, "amount_refunded", default=0)


@pytest.mark.parametrize(("value", "ok"), [("inr", "INR"), ("Usd", "USD"), ("₹₹₹", None), ("IN", None),
                                           ("INRS", None), ("1NR", None), (356, None), (None, None)])
def test_currency_is_three_ascii_letters_upper_cased(value, ok):
    if ok:
        assert currency({"currency": value}) == ok
    else:
        with pytest.raises(BadCallback):
            currency({"currency": value})


def test_text_is_a_bounded_non_empty_string_and_may_be_optional():
    assert text({"id": "x" * 100}, "id") == "x" * 100
    assert text({}, "id", required=False) is None
    for data in ({}, {"id": ""}, {"id": 7}, {"id": "x" * 101}):
        with pytest.raises(BadCallback):
            text(data, "id")
    with pytest.raises(BadCallback):  # optional means absent, never empty
        text({"id": ""}, "id", required=False)


def test_header_lookup_ignores_case():
    assert header({"x-razorpay-event-id": "evt_1"}, "X-Razorpay-Event-Id") == "evt_1"
    assert header({"Stripe-Signature": "t=1"}, "Stripe-Signature") == "t=1"
    assert header({}, "Stripe-Signature") is None


@pytest.mark.parametrize("body", [b"", b"[]", b"null", b"{", b"\xff", b"[" * 100_000])
def test_json_object_refuses_anything_but_an_object(body):
    with pytest.raises(BadCallback):
        json_object(body)


@pytest.mark.parametrize(("rupees", "paise"), [("1", 100), ("100.5", 10050), ("100.50", 10050), ("0.01", 1)])
def test_rupee_strings_become_exact_paise(rupees, paise):
    assert rupees_to_paise(rupees, "TXNAMOUNT") == paise


@pytest.mark.parametrize("rupees", ["", " 100", "100\n", "+100", "-1", "1e2", "1.005", "\u0661\u0660\u0660", "1" * 16])
def test_rupee_strings_gateways_never_write_are_refused(rupees):
    with pytest.raises(BadCallback, match="TXNAMOUNT is not an amount in rupees"):
        rupees_to_paise(rupees, "TXNAMOUNT")
