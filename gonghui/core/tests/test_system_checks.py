"""gonghui.core.apps.check_settings: a bad secret or key stops the platform loudly."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from gonghui.core import pii
from gonghui.core.apps import check_settings

GOOD_KEY = "1:" + pii.generate_key()


@pytest.fixture(autouse=True)
def fresh_keyring() -> Iterator[None]:
    pii._keyring.cache_clear()
    yield
    pii._keyring.cache_clear()


def error_ids(**overrides: Any) -> set[str]:
    with override_settings(**overrides):
        return {message.id for message in check_settings() if message.id}


def test_the_test_settings_pass() -> None:
    assert check_settings() == []


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"SECRET_KEY": "too-short"}, "gonghui.E001"),
        ({"PII_KEYS": []}, "gonghui.E002"),
        ({"PII_KEYS": ["not-a-key"]}, "gonghui.E003"),
        ({"PII_KEYS": ["1:c2hvcnQ"]}, "gonghui.E003"),
        ({"PII_KEYS": ["300:" + pii.generate_key()]}, "gonghui.E003"),
        ({"PII_KEYS": [GOOD_KEY, GOOD_KEY]}, "gonghui.E003"),
        ({"PII_BLIND_INDEX_KEY": "short"}, "gonghui.E004"),
        ({"PII_BLIND_INDEX_KEY": ""}, "gonghui.E004"),
        ({"DEBUG": False, "ALLOWED_HOSTS": []}, "gonghui.E005"),
    ],
    ids=[
        "short-secret",
        "no-pii-keys",
        "malformed-pii-key",
        "short-pii-key",
        "bad-key-id",
        "duplicate-key-id",
        "short-blind-key",
        "no-blind-key",
        "no-allowed-hosts",
    ],
)
def test_each_misconfiguration_is_reported(overrides: dict[str, Any], expected: str) -> None:
    assert error_ids(**overrides) == {expected}


def test_several_problems_are_reported_together() -> None:
    assert error_ids(SECRET_KEY="x", PII_KEYS=[], PII_BLIND_INDEX_KEY="") == {
        "gonghui.E001",
        "gonghui.E002",
        "gonghui.E004",
    }


def test_messages_never_echo_the_secret() -> None:
    secret_ish = "1:" + "A" * 10
    with override_settings(PII_KEYS=[secret_ish]):
        messages = check_settings()
    assert messages and all("A" * 10 not in (m.msg + (m.hint or "")) for m in messages)


def test_a_valid_rotation_list_passes() -> None:
    assert error_ids(PII_KEYS=["3:" + pii.generate_key(), GOOD_KEY]) == set()


def test_manage_py_check_fails_on_a_bad_key() -> None:
    with override_settings(PII_KEYS=["broken"]), pytest.raises(SystemCheckError, match=r"gonghui\.E003"):
        call_command("check")
