"""PayHub's post_hash envelope against GATEWAYS.md §6's vector, the `cryptography` package and OpenSSL."""

from __future__ import annotations

import base64
import hashlib
import hmac
import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from payhub.gateways import payatom_hash as ours
from tests.fakes import payatom_api as independent

SECRET = "test_secret_key_123"
IV = bytes(range(16))
VECTOR_MD5 = "4315d75701a534966c9c5631a6a06f0a"
VECTOR = ("AAECAwQFBgcICQoLDA0OD4mJRen/VDeT1n3ql1tewajGv2JRNdBQByBn4kUqQnXZXn/xnJ8hLKVmLnG9WisU17rx3+t91XyrQAWaTIT5"
          "y5SAKbvB3lp/abOF6qhWNlBx")


def test_known_answer_vectors_of_gateways_md():
    assert ours.webhook_digest("ORDER000001", "100", "Approved", SECRET) == VECTOR_MD5
    assert ours.seal(VECTOR_MD5, SECRET, iv=IV) == VECTOR
    assert len(VECTOR) == 128
    assert ours.open_envelope(VECTOR, SECRET) == VECTOR_MD5
    assert ours.poll_digest("asas63elfe596ed8", "5345f345345", SECRET) == "fa2b8b5fde8025ffb2202273616defef"


def test_the_cryptography_package_opens_what_payhub_seals_and_back():
    mine = ours.seal(VECTOR_MD5, SECRET)
    assert independent.unseal(mine, SECRET) == VECTOR_MD5
    theirs = independent.seal(VECTOR_MD5, SECRET)
    assert ours.open_envelope(theirs, SECRET) == VECTOR_MD5
    assert independent.seal(VECTOR_MD5, SECRET, iv=IV) == VECTOR


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_openssl_decrypts_the_ciphertext_payhub_produces():
    raw = base64.b64decode(ours.seal(VECTOR_MD5, SECRET))
    key = hashlib.sha256(SECRET.encode()).digest()
    plain = subprocess.run(
        ["openssl", "enc", "-d", "-aes-256-cbc", "-K", key.hex(), "-iv", raw[:16].hex()],
        input=raw[48:], capture_output=True, check=True,
    ).stdout
    assert plain.decode() == VECTOR_MD5
    assert hmac.compare_digest(hmac.new(key, raw[48:] + raw[:16], hashlib.sha256).digest(), raw[16:48])


def test_iv_is_fresh_every_time():
    assert len({ours.seal(VECTOR_MD5, SECRET) for _ in range(10)}) == 10


def test_carries_checks_both_authenticity_and_content():
    assert ours.carries(VECTOR, SECRET, VECTOR_MD5)
    assert not ours.carries(VECTOR, SECRET, ours.webhook_digest("ORDER000001", "1000", "Approved", SECRET))
    assert not ours.carries(VECTOR, "another_secret", VECTOR_MD5)


@pytest.mark.parametrize("region", [0, 15, 16, 47, 48, 95])
def test_flipping_any_byte_is_detected(region):
    raw = bytearray(base64.b64decode(VECTOR))
    raw[region] ^= 0x01
    assert ours.open_envelope(base64.b64encode(bytes(raw)).decode(), SECRET) is None


def test_a_valid_mac_over_badly_padded_plaintext_is_rejected():
    key = hashlib.sha256(SECRET.encode()).digest()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(IV)).encryptor()
    ct = encryptor.update(b"A" * 32) + encryptor.finalize()  # no PKCS7 padding at all
    post_hash = base64.b64encode(IV + hmac.new(key, ct + IV, hashlib.sha256).digest() + ct).decode()
    assert ours.open_envelope(post_hash, SECRET) is None


@pytest.mark.parametrize("post_hash", ["", "****", VECTOR[:64], VECTOR[:-4], "é" * 128,
                                       base64.b64encode(b"\x00" * 48).decode(), None, 7])
def test_malformed_post_hashes_are_rejected(post_hash):
    assert ours.open_envelope(post_hash, SECRET) is None
    assert not ours.carries(post_hash, SECRET, VECTOR_MD5)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200).map(lambda b: base64.b64encode(b).decode())))
def test_open_never_raises(post_hash):
    assert ours.open_envelope(post_hash, SECRET) is None


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=80), st.text(min_size=1, max_size=40))
def test_round_trip_with_the_independent_implementation(plaintext, secret):
    assert independent.unseal(ours.seal(plaintext, secret), secret) == plaintext
    assert ours.open_envelope(independent.seal(plaintext, secret), secret) == plaintext
