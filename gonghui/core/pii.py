"""Personal data at rest: AES-GCM encryption, a keyed blind index, and masking.

Ciphertext layout: ``b"\\x01" + key_id (1 byte) + nonce (12 bytes) + AES-GCM(ct+tag)``.
The key id lets several keys live side by side during a rotation: the first key in
``PII_KEYS`` encrypts, every listed key decrypts, and ``manage.py rotate_pii_keys``
re-encrypts old rows (docs/SECURITY.md).

The blind index is HMAC-SHA256 over the *normalised* value with a separate key and a
per-field domain tag, so the same ID number gives the same index (exact lookup and a
unique constraint) while the index reveals nothing without the key.
"""

from __future__ import annotations

import base64
import hmac
import os
from dataclasses import dataclass
from functools import lru_cache

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

_VERSION = 1


@dataclass(frozen=True)
class PiiKeyring:
    current_id: int
    keys: dict[int, AESGCM]
    blind_key: bytes


def parse_keys(entries: list[str]) -> dict[int, bytes]:
    """Parse ``["1:base64", "2:base64"]``; raise ImproperlyConfigured on any flaw."""
    keys: dict[int, bytes] = {}
    for entry in entries:
        if ":" not in entry:
            raise ImproperlyConfigured("PII_KEYS entries look like '1:<base64 of 32 bytes>'")
        raw_id, raw_key = entry.split(":", 1)
        try:
            key_id = int(raw_id)
            key = base64.urlsafe_b64decode(raw_key + "=" * (-len(raw_key) % 4))
        except ValueError as exc:
            raise ImproperlyConfigured(f"PII_KEYS entry {raw_id!r} is malformed") from exc
        if not 0 < key_id < 256:
            raise ImproperlyConfigured("PII_KEYS ids must be between 1 and 255")
        if len(key) != 32:
            raise ImproperlyConfigured(f"PII_KEYS key {key_id} must be 32 bytes (AES-256)")
        if key_id in keys:
            raise ImproperlyConfigured(f"PII_KEYS key id {key_id} is listed twice")
        keys[key_id] = key
    return keys


@lru_cache(maxsize=4)
def _keyring(entries: tuple[str, ...], blind: str) -> PiiKeyring:
    keys = parse_keys(list(entries))
    if not keys:
        raise ImproperlyConfigured("PII_KEYS is not set: personal data cannot be stored")
    if len(blind) < 32:
        raise ImproperlyConfigured("PII_BLIND_INDEX_KEY must be at least 32 characters")
    return PiiKeyring(
        current_id=next(iter(keys)),
        keys={key_id: AESGCM(key) for key_id, key in keys.items()},
        blind_key=blind.encode(),
    )


def keyring() -> PiiKeyring:
    return _keyring(tuple(settings.PII_KEYS), settings.PII_BLIND_INDEX_KEY)


def generate_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")


def encrypt(plaintext: str) -> bytes:
    ring = keyring()
    nonce = os.urandom(12)
    ct = ring.keys[ring.current_id].encrypt(nonce, plaintext.encode(), None)
    return bytes([_VERSION, ring.current_id]) + nonce + ct


def key_id_of(token: bytes) -> int:
    return bytes(token)[1]


def decrypt(token: bytes | memoryview) -> str:
    data = bytes(token)
    if len(data) < 14 or data[0] != _VERSION:
        raise ValueError("not a Gonghui PII ciphertext")
    ring = keyring()
    key = ring.keys.get(data[1])
    if key is None:
        raise ImproperlyConfigured(f"PII key {data[1]} is not in PII_KEYS (was it removed too early?)")
    return key.decrypt(data[2:14], data[14:], None).decode()


def blind_index(value: str, domain: str) -> str:
    """Hex HMAC of a normalised value. ``domain`` separates fields (id / bank / …)."""
    return hmac.digest(keyring().blind_key, f"{domain}\x00{value}".encode(), "sha256").hex()


def mask_id_number(number: str) -> str:
    """``440106199001011234`` → ``440106********1234``."""
    if len(number) <= 10:
        return "*" * len(number)
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


def mask_mobile(mobile: str) -> str:
    """``13800138000`` → ``138****8000``."""
    if len(mobile) < 7:
        return "*" * len(mobile)
    return mobile[:3] + "*" * (len(mobile) - 7) + mobile[-4:]


def mask_bank_account(account: str) -> str:
    """Keep the last four digits: ``6222 **** **** 1234`` style without spaces."""
    if len(account) <= 4:
        return "*" * len(account)
    return "*" * (len(account) - 4) + account[-4:]


def mask_name(name: str) -> str:
    """``张三丰`` → ``张**``; used where a stranger (a merchant) sees a member."""
    if not name:
        return ""
    return name[0] + "*" * (len(name) - 1)
