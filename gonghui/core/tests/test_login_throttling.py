"""core.auth: failed logins lock the account identifier, and the client address."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import override_settings

from gonghui.core.auth import MobileOrUsernameBackend, clear_failures, ensure_not_throttled, note_failure
from gonghui.core.errors import DomainError
from gonghui.core.models import User

IP = "203.0.113.9"


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def fail(identifier: str, times: int, ip: str | None = IP) -> None:
    for _ in range(times):
        note_failure(identifier, ip)


def test_failures_below_the_limit_are_allowed() -> None:
    fail("13800138000", settings.LOGIN_MAX_FAILURES - 1)
    ensure_not_throttled("13800138000", IP)


def test_the_limit_locks_the_account() -> None:
    fail("13800138000", settings.LOGIN_MAX_FAILURES)
    with pytest.raises(DomainError) as caught:
        ensure_not_throttled("13800138000", "198.51.100.1")  # from anywhere
    assert caught.value.code == "LOGIN_THROTTLED"
    assert "15 分钟" in caught.value.message
    ensure_not_throttled("13900139000", IP)  # another account from the same office is fine


def test_identifiers_are_compared_without_case() -> None:
    fail("Alice", settings.LOGIN_MAX_FAILURES)
    with pytest.raises(DomainError):
        ensure_not_throttled("alice", IP)


def test_clear_failures_resets_the_account_counter() -> None:
    fail("alice", settings.LOGIN_MAX_FAILURES)
    clear_failures("ALICE")
    ensure_not_throttled("alice", IP)
    fail("alice", settings.LOGIN_MAX_FAILURES - 1)
    ensure_not_throttled("alice", IP)  # counting starts again from zero


def test_one_address_trying_many_accounts_is_locked_at_ten_times_the_limit() -> None:
    limit = settings.LOGIN_MAX_FAILURES
    for i in range(limit * 10):
        note_failure(f"user{i}", IP)
    with pytest.raises(DomainError) as caught:
        ensure_not_throttled("someone-new", IP)
    assert caught.value.code == "LOGIN_THROTTLED"
    ensure_not_throttled("someone-new", "198.51.100.1")
    ensure_not_throttled("someone-new", None)


@override_settings(LOGIN_MAX_FAILURES=2)
def test_the_limit_is_a_setting() -> None:
    fail("bob", 2)
    with pytest.raises(DomainError):
        ensure_not_throttled("bob", IP)


def test_the_window_is_the_cache_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, int]] = []
    original_add = cache.add

    def spy(key: str, value: int, timeout: int) -> bool:
        calls.append((key, timeout))
        return original_add(key, value, timeout)

    monkeypatch.setattr(cache, "add", spy)
    note_failure("carol", IP)
    assert calls == [
        ("login-fail:id:carol", settings.LOGIN_FAILURE_WINDOW_SECONDS),
        (f"login-fail:ip:{IP}", settings.LOGIN_FAILURE_WINDOW_SECONDS),
    ]


def test_password_backend_accepts_login_name_or_mobile(db: object) -> None:
    User.objects.create_user("dora", password="correct-horse-battery", mobile="13700137000")
    backend = MobileOrUsernameBackend()
    assert backend.authenticate(None, username="dora", password="correct-horse-battery") is not None
    assert backend.authenticate(None, username="13700137000", password="correct-horse-battery") is not None
    assert backend.authenticate(None, username="dora", password="wrong-password") is None
    assert backend.authenticate(None, username="nobody", password="correct-horse-battery") is None
    assert backend.authenticate(None, username="", password="x") is None


def test_deactivated_users_cannot_log_in(db: object) -> None:
    User.objects.create_user("eve", password="correct-horse-battery", is_active=False)
    assert MobileOrUsernameBackend().authenticate(None, username="eve", password="correct-horse-battery") is None
