"""core.pii: encryption at rest, the blind index, and masking."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.exceptions import InvalidTag
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from gonghui.core import pii

NUMBER = "44010619900101123X"
# gonghui/test_settings.py lists key 1 (current) and key 2 (an older key still readable).
KEY_1, KEY_2 = settings.PII_KEYS


@pytest.fixture(autouse=True)
def fresh_keyring() -> Iterator[None]:
    pii._keyring.cache_clear()
    yield
    pii._keyring.cache_clear()


def test_round_trip() -> None:
    for text in (NUMBER, "6222021234567890123", "张三", ""):
        assert pii.decrypt(pii.encrypt(text)) == text


def test_ciphertext_differs_every_time_and_hides_the_plaintext() -> None:
    first, second = pii.encrypt(NUMBER), pii.encrypt(NUMBER)
    assert first != second  # a fresh random nonce each time
    assert first[2:14] != second[2:14]
    assert NUMBER.encode() not in first


def test_ciphertext_layout_names_version_and_key() -> None:
    token = pii.encrypt(NUMBER)
    assert token[0] == 1
    assert pii.key_id_of(token) == 1
    assert len(token) == 2 + 12 + len(NUMBER) + 16  # header, nonce, ciphertext, GCM tag


@pytest.mark.parametrize("position", [14, 20, -1])
def test_tampered_ciphertext_fails(position: int) -> None:
    token = bytearray(pii.encrypt(NUMBER))
    token[position] ^= 0x01
    with pytest.raises(InvalidTag):
        pii.decrypt(bytes(token))


def test_tampered_nonce_fails() -> None:
    token = bytearray(pii.encrypt(NUMBER))
    token[5] ^= 0x80
    with pytest.raises(InvalidTag):
        pii.decrypt(bytes(token))


def test_ciphertext_moved_to_another_key_id_fails() -> None:
    token = bytearray(pii.encrypt(NUMBER))
    token[1] = 2
    with pytest.raises(InvalidTag):
        pii.decrypt(bytes(token))


@pytest.mark.parametrize("junk", [b"", b"\x01\x01short", b"\x02" + bytes(40)])
def test_junk_is_not_a_ciphertext(junk: bytes) -> None:
    with pytest.raises(ValueError, match="not a Gonghui PII ciphertext"):
        pii.decrypt(junk)


def test_decrypt_accepts_memoryview() -> None:
    assert pii.decrypt(memoryview(pii.encrypt(NUMBER))) == NUMBER


def test_data_under_an_older_key_still_decrypts() -> None:
    with override_settings(PII_KEYS=[KEY_2, KEY_1]):
        old = pii.encrypt(NUMBER)
    assert pii.key_id_of(old) == 2
    assert pii.keyring().current_id == 1
    assert pii.decrypt(old) == NUMBER
    assert pii.key_id_of(pii.encrypt(NUMBER)) == 1  # new data goes under the current key


def test_data_under_a_removed_key_is_reported_not_garbled() -> None:
    with override_settings(PII_KEYS=[KEY_2]):
        old = pii.encrypt(NUMBER)
    with override_settings(PII_KEYS=[KEY_1]), pytest.raises(ImproperlyConfigured, match="PII key 2"):
        pii.decrypt(old)


def test_blind_index_is_stable_and_keyed() -> None:
    index = pii.blind_index(NUMBER, "id")
    assert index == pii.blind_index(NUMBER, "id")
    assert len(index) == 64 and int(index, 16) >= 0  # hex HMAC-SHA256
    assert NUMBER not in index
    assert index != pii.blind_index("440106199001011234", "id")
    with override_settings(PII_BLIND_INDEX_KEY="another-blind-index-key-of-enough-length-0123"):
        assert pii.blind_index(NUMBER, "id") != index


def test_blind_index_is_domain_separated() -> None:
    digits = "622202123456789012"
    assert pii.blind_index(digits, "id") != pii.blind_index(digits, "bank")
    # The separator keeps ("ab", "c") and ("a", "bc") apart.
    assert pii.blind_index("c", "ab") != pii.blind_index("bc", "a")


def test_blind_index_ignores_which_encryption_key_is_current() -> None:
    index = pii.blind_index(NUMBER, "id")
    with override_settings(PII_KEYS=[KEY_2, KEY_1]):
        assert pii.blind_index(NUMBER, "id") == index


def test_masking_formats() -> None:
    assert pii.mask_id_number(NUMBER) == "440106********123X"
    assert pii.mask_id_number("440106199001011234") == "440106********1234"
    assert pii.mask_mobile("13800138000") == "138****8000"
    assert pii.mask_bank_account("6222021234567890123") == "***************0123"
    assert pii.mask_name("张三丰") == "张**"
    assert pii.mask_name("") == ""


def test_masking_short_values_hides_everything() -> None:
    assert pii.mask_id_number("1234") == "****"
    assert pii.mask_mobile("12345") == "*****"
    assert pii.mask_bank_account("123") == "***"


def test_generated_keys_parse_as_aes_256_keys() -> None:
    entry = f"7:{pii.generate_key()}"
    assert list(pii.parse_keys([entry])) == [7]


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (["no-colon"], "look like"),
        (["x:abcd"], "malformed"),
        (["0:" + pii.generate_key()], "between 1 and 255"),
        (["256:" + pii.generate_key()], "between 1 and 255"),
        (["1:c2hvcnQ"], "32 bytes"),
        (["1:" + pii.generate_key(), "1:" + pii.generate_key()], "listed twice"),
    ],
)
def test_malformed_key_lists_are_refused(entries: list[str], message: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=message):
        pii.parse_keys(entries)


def test_no_keys_means_no_encryption() -> None:
    with override_settings(PII_KEYS=[]), pytest.raises(ImproperlyConfigured, match="not set"):
        pii.encrypt(NUMBER)


def test_short_blind_key_means_no_index() -> None:
    with override_settings(PII_BLIND_INDEX_KEY="short"), pytest.raises(ImproperlyConfigured, match="32"):
        pii.blind_index(NUMBER, "id")
