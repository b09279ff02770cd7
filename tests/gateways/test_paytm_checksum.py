"""PayHub's own Paytm checksum against Paytm's official `paytmchecksum` package and §6's vector."""

from __future__ import annotations

import base64
import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paytmchecksum import PaytmChecksum

from payhub.gateways import paytm_checksum as ours

KEY = "abcdefghijklmnop"
VECTOR_PARAMS = {"MID": "MID123", "ORDERID": "ORD1", "STATUS": "TXN_SUCCESS", "TXNAMOUNT": "1.00"}
VECTOR = "FPvQuNvLFlRVrz8PqTk/WSw9lYMci5ZuR+2b1a4ykcge9Fikz899ZrdOCjMNiP2SJ5203sYA6TIU3wqcyhdf9iJPCXiq5EEKAxKI4QPc14g="
CALLBACK = {
    "MID": "MID123", "ORDERID": "order_42", "TXNID": "20261122111212800110168", "BANKTXNID": "",
    "TXNAMOUNT": "100.50", "CURRENCY": "INR", "STATUS": "TXN_SUCCESS", "RESPCODE": "01",
    "RESPMSG": "Txn Success", "TXNDATE": "2026-11-22 10:00:00.0", "GATEWAYNAME": "HDFC", "MERC_UNQ_REF": "null",
}
text_values = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30)


def test_known_answer_vector_of_gateways_md():
    assert ours.params_string(VECTOR_PARAMS) == "MID123|ORD1|TXN_SUCCESS|1.00"
    assert ours.salted_hash("MID123|ORD1|TXN_SUCCESS|1.00", "AbC1") == (
        "660cb98ca8d29bf41c16454b698d253d3bf8a1372bbd6a53a2a6636a90f1e26bAbC1"
    )
    assert ours.generate(VECTOR_PARAMS, KEY, salt="AbC1") == VECTOR
    assert ours.verify(VECTOR_PARAMS, KEY, VECTOR)


def test_official_package_verifies_what_payhub_signs():
    for params in (dict(CALLBACK), json.dumps({"mid": "MID123", "orderId": "o1"})):
        checksum = ours.generate(params, KEY)
        assert len(checksum) == 108
        assert PaytmChecksum.verifySignature(params, KEY, checksum)


def test_payhub_verifies_what_the_official_package_signs():
    body = json.dumps({"mid": "MID123", "orderId": "o1", "txnAmount": {"value": "1.00", "currency": "INR"}})
    assert ours.verify(body, KEY, PaytmChecksum.generateSignature(body, KEY))
    signed = {**CALLBACK, "CHECKSUMHASH": PaytmChecksum.generateSignature(dict(CALLBACK), KEY)}
    assert ours.verify(signed, KEY, signed["CHECKSUMHASH"])  # CHECKSUMHASH itself is left out


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(st.characters(min_codepoint=48, max_codepoint=122), min_size=1, max_size=12),
                       text_values, max_size=8).filter(lambda p: "CHECKSUMHASH" not in p))
def test_any_ascii_params_interoperate_both_ways(params):
    assert PaytmChecksum.verifySignature(dict(params), KEY, ours.generate(params, KEY))
    assert ours.verify(params, KEY, PaytmChecksum.generateSignature(dict(params), KEY))


def test_verify_does_not_mutate_the_callers_fields():
    signed = {**CALLBACK, "CHECKSUMHASH": ours.generate(CALLBACK, KEY)}
    before = dict(signed)
    assert ours.verify(signed, KEY, signed["CHECKSUMHASH"])
    assert signed == before


@pytest.mark.parametrize("change", [
    lambda p: p.update(TXNAMOUNT="1000.50"),
    lambda p: p.update(STATUS="TXN_FAILURE"),
    lambda p: p.update(EXTRA="unexpected"),  # a field Paytm did not sign
    lambda p: p.pop("BANKTXNID"),
    lambda p: p.update(ORDERID="order_43"),
])
def test_any_change_to_the_fields_breaks_the_checksum(change):
    checksum = PaytmChecksum.generateSignature(dict(CALLBACK), KEY)
    tampered = dict(CALLBACK)
    change(tampered)
    assert not ours.verify(tampered, KEY, checksum)


def test_wrong_key_fails_and_null_means_empty_like_the_official_kit():
    checksum = ours.generate(CALLBACK, KEY)
    assert not ours.verify(CALLBACK, "ponmlkjihgfedcba", checksum)
    assert not ours.verify(CALLBACK, "short-key", checksum)
    assert ours.verify({**CALLBACK, "MERC_UNQ_REF": ""}, KEY, checksum)


@pytest.mark.parametrize("checksum", [
    "", "not base64!", "AAAA", base64.b64encode(b"x" * 15).decode(), base64.b64encode(b"\x00" * 80).decode(),
    VECTOR[:-4], VECTOR + "AAAA", None, 12345, "é" * 108,
])
def test_malformed_checksums_are_rejected_without_raising(checksum):
    assert ours.verify(VECTOR_PARAMS, KEY, checksum) is False


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=200), st.binary(max_size=120).map(lambda b: base64.b64encode(b).decode())))
def test_verify_never_raises_on_arbitrary_checksums(checksum):
    assert ours.verify(VECTOR_PARAMS, KEY, checksum) is False


def test_non_string_values_are_not_authentic():
    assert ours.verify({"MID": 1}, KEY, VECTOR) is False
    with pytest.raises(TypeError):
        ours.generate({"MID": 1}, KEY)


def test_verify_compares_in_constant_time(monkeypatch):
    seen = []
    real = ours.hmac.compare_digest
    monkeypatch.setattr(ours.hmac, "compare_digest", lambda a, b: seen.append(1) or real(a, b))
    assert ours.verify(VECTOR_PARAMS, KEY, VECTOR)
    assert seen


def test_salts_are_random_and_from_the_documented_alphabet():
    checksums = {ours.generate(CALLBACK, KEY) for _ in range(20)}
    assert len(checksums) > 15


class TestRawMember:
    def test_finds_the_exact_text_of_the_body(self):
        raw = '{"head": {"signature": "x", "body": 1}, "body" : {"b": "}", "a": [1, 2]} }'
        assert ours.raw_member(raw, "body") == '{"b": "}", "a": [1, 2]}'

    def test_absent_or_not_an_object(self):
        assert ours.raw_member('{"head": {}}', "body") is None
        assert ours.raw_member('[{"body": 1}]', "body") is None
        assert ours.raw_member("", "body") is None

    def test_a_body_given_twice_is_ambiguous(self):
        with pytest.raises(ValueError):
            ours.raw_member('{"body": {}, "body": {"x": 1}}', "body")

    @settings(max_examples=200, deadline=None)
    @given(st.text(max_size=60))
    def test_never_crashes_with_anything_but_value_error(self, text):
        with contextlib.suppress(ValueError):
            ours.raw_member(text, "body")
