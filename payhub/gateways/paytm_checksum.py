"""Paytm's checksum (CHECKSUMHASH / head.signature), PayHub's own implementation (GATEWAYS.md §2a).

checksum = Base64(AES-CBC(key=merchant key, iv="@@@@&&&&####$$$$", PKCS7(sha256_hex(text + "|" + salt) + salt)))
where `text` is the JSON body string verbatim, or a parameter dict's values joined by "|" in
sorted-key order. Unlike the official kit, `verify` never mutates its input, never raises on
malformed input, and compares in constant time; the salt comes from `secrets`, not `random`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import string
from collections.abc import Mapping
from json.decoder import scanstring

from Crypto.Cipher import AES

IV = b"@@@@&&&&####$$$$"
CHECKSUM_FIELD = "CHECKSUMHASH"
SALT_ALPHABET = string.ascii_uppercase + string.digits + string.ascii_lowercase
SALT_LENGTH = 4
_BLOCK = 16

Params = Mapping[str, str | None] | str


def params_string(params: Mapping[str, str | None]) -> str:
    """Values (no keys) in code-point order of their keys, joined by "|"; None and "null" are ""."""
    values = []
    for key in sorted(params):
        value = params[key]
        if value is not None and not isinstance(value, str):
            raise TypeError(f"parameter {key!r} must be a string")
        values.append("" if value is None or value.lower() == "null" else value)
    return "|".join(values)


def _text(params: Params) -> str:
    if isinstance(params, str):
        return params
    if isinstance(params, Mapping):
        return params_string({k: v for k, v in params.items() if k != CHECKSUM_FIELD})
    raise TypeError("params must be a mapping or a string")


def salted_hash(text: str, salt: str) -> str:
    return hashlib.sha256(f"{text}|{salt}".encode()).hexdigest() + salt


def _cipher(key: str) -> object:
    return AES.new(key.encode(), AES.MODE_CBC, IV)


def generate(params: Params, key: str, *, salt: str | None = None) -> str:
    """The checksum of `params` (a dict of str, or the exact JSON body string). `salt` is for tests."""
    if salt is None:
        salt = "".join(secrets.choice(SALT_ALPHABET) for _ in range(SALT_LENGTH))
    plain = salted_hash(_text(params), salt).encode()
    pad = _BLOCK - len(plain) % _BLOCK
    encrypted = _cipher(key).encrypt(plain + bytes([pad]) * pad)  # type: ignore[attr-defined]
    return base64.b64encode(encrypted).decode()


def verify(params: Params, key: str, checksum: str) -> bool:
    """True only if `checksum` is the checksum of `params` (a CHECKSUMHASH entry is left out)."""
    try:
        text = _text(params)
        raw = base64.b64decode(checksum.encode("ascii"), validate=True)
    except (TypeError, ValueError, AttributeError, binascii.Error):
        return False
    if not raw or len(raw) % _BLOCK:
        return False
    try:
        plain = _cipher(key).decrypt(raw)  # type: ignore[attr-defined]
    except ValueError:  # a key of the wrong length: nothing can be authentic under it
        return False
    pad = plain[-1]
    if not 1 <= pad <= _BLOCK or plain[-pad:] != bytes([pad]) * pad:
        return False
    decrypted = plain[:-pad]
    if len(decrypted) <= SALT_LENGTH:
        return False
    try:
        salt = decrypted[-SALT_LENGTH:].decode("ascii")
    except UnicodeDecodeError:
        return False
    return hmac.compare_digest(decrypted, salted_hash(text, salt).encode())


def raw_member(text: str, name: str) -> str | None:
    """The exact source text of member `name` of the top-level JSON object in `text`.

    Paytm signs `body` as Paytm serialised it, so the signature is checked on that substring,
    not on a re-serialisation. None if `text` is not an object or lacks the member; ValueError
    if the member is given twice (which one would be "the" body is ambiguous).
    """
    decoder = json.JSONDecoder()
    ws = " \t\r\n"
    i = _skip(text, 0, ws)
    if not text.startswith("{", i):
        return None
    i, found = _skip(text, i + 1, ws), None
    while i < len(text) and text[i] != "}":
        if text[i] != '"':
            return None
        key, i = scanstring(text, i + 1)
        i = _skip(text, i, ws)
        if not text.startswith(":", i):
            return None
        start = _skip(text, i + 1, ws)
        _, end = decoder.raw_decode(text, start)
        if key == name:
            if found is not None:
                raise ValueError(f"member {name!r} given twice")
            found = text[start:end]
        i = _skip(text, end, ws)
        if text.startswith(",", i):
            i = _skip(text, i + 1, ws)
        elif not text.startswith("}", i):
            return None
    return found


def _skip(text: str, i: int, chars: str) -> int:
    while i < len(text) and text[i] in chars:
        i += 1
    return i
