"""PayAtom's `post_hash` envelope (GATEWAYS.md §4c), built on pycryptodome.

key = SHA256(secret) (32 raw bytes, both the AES-256 key and the HMAC key);
post_hash = Base64(iv || HMAC-SHA256(key, ct || iv) || ct), ct = AES-256-CBC(key, iv, PKCS7(md5 hex)).
The MAC is checked in constant time before anything is decrypted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

from Crypto.Cipher import AES
from Crypto.Util.Padding import pad, unpad

_IV, _MAC = 16, 32


def derive_key(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def md5_hex(*parts: str) -> str:
    """md5 of the parts concatenated as received: no separators, no reformatting."""
    # md5 is what PayAtom specifies; the envelope around it (HMAC-SHA256) is what authenticates.
    return hashlib.md5("".join(parts).encode(), usedforsecurity=False).hexdigest()


def webhook_digest(order_id: str, received_amount: str, status: str, secret: str) -> str:
    return md5_hex(order_id, received_amount, status, secret)


def poll_digest(ref_code: str, pid: str, secret: str) -> str:
    return md5_hex(ref_code, pid, secret)


def seal(plaintext: str, secret: str, *, iv: bytes | None = None) -> str:
    """The post_hash carrying `plaintext`. `iv` is for known-answer tests only."""
    key = derive_key(secret)
    iv = os.urandom(_IV) if iv is None else iv
    ct = AES.new(key, AES.MODE_CBC, iv).encrypt(pad(plaintext.encode(), AES.block_size))
    mac = hmac.new(key, ct + iv, hashlib.sha256).digest()
    return base64.b64encode(iv + mac + ct).decode()


def open_envelope(post_hash: str, secret: str) -> str | None:
    """The plaintext inside `post_hash`, or None if it is malformed or not made with `secret`."""
    try:
        raw = base64.b64decode(post_hash.encode("ascii"), validate=True)
    except (ValueError, AttributeError, binascii.Error):
        return None
    iv, mac, ct = raw[:_IV], raw[_IV:_IV + _MAC], raw[_IV + _MAC:]
    if len(mac) != _MAC or not ct or len(ct) % AES.block_size:
        return None
    key = derive_key(secret)
    if not hmac.compare_digest(hmac.new(key, ct + iv, hashlib.sha256).digest(), mac):
        return None
    try:
        return unpad(AES.new(key, AES.MODE_CBC, iv).decrypt(ct), AES.block_size).decode()
    except (ValueError, UnicodeDecodeError):
        return None


def carries(post_hash: str, secret: str, expected: str) -> bool:
    """True if `post_hash` is authentic and carries exactly `expected`."""
    remote = open_envelope(post_hash, secret)
    return remote is not None and hmac.compare_digest(remote.encode(), expected.encode())
