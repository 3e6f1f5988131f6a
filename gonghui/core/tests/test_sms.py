"""SMS: the provider contract, the sandbox gateway, and one-time codes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from gonghui.core import sms
from gonghui.core.errors import DomainError
from gonghui.core.models import SmsCode, SmsMessage
from gonghui.testing.concurrency import on_postgres_only, race

ERROR_CODES = {"SMS_THROTTLED", "SMS_UNREACHABLE", "SMS_GATEWAY_ERROR"}
MOBILE = "13800138000"


class RefusingProvider(sms.SmsProvider):
    """A gateway that accepts nothing (a stand-in for a misconfigured real adapter)."""

    name = "refusing"

    def send(self, mobile: str, text: str) -> sms.SmsResult:
        return sms.SmsResult(False, error_code="SMS_GATEWAY_ERROR")


class AcceptingProvider(sms.SmsProvider):
    """A real-gateway double: accepts everything, and is not allowed to show codes."""

    name = "accepting"
    sent: list[tuple[str, str]] = []

    def send(self, mobile: str, text: str) -> sms.SmsResult:
        self.sent.append((mobile, text))
        return sms.SmsResult(True, message_id=f"acc-{len(self.sent)}")


class CrashingProvider(sms.SmsProvider):
    name = "crashing"

    def send(self, mobile: str, text: str) -> sms.SmsResult:
        raise ConnectionError("gateway unreachable")


def all_providers() -> list[type[sms.SmsProvider]]:
    found: list[type[sms.SmsProvider]] = []
    pending = list(sms.SmsProvider.__subclasses__())
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return sorted((cls for cls in found if cls is not CrashingProvider), key=lambda cls: cls.__qualname__)


@pytest.fixture(autouse=True)
def fresh_provider() -> Iterator[None]:
    sms._provider.cache_clear()
    yield
    sms._provider.cache_clear()


def use(provider: type[sms.SmsProvider]) -> Any:
    return override_settings(SMS_PROVIDER=f"{provider.__module__}.{provider.__qualname__}")


def code_in(message: SmsMessage) -> str:
    match = re.search(r"\d{6}", message.text)
    assert match, message.text
    return match.group()


def age(mobile: str, seconds: int) -> None:
    """Pretend the messages to ``mobile`` went out ``seconds`` ago (the gateway's clock)."""
    SmsMessage.objects.filter(mobile=mobile).update(created_at=timezone.now() - timedelta(seconds=seconds))


# --- the adapter contract --------------------------------------------------------------


@pytest.mark.parametrize("provider_class", all_providers(), ids=lambda cls: cls.__qualname__)
def test_every_provider_keeps_the_adapter_contract(db: Any, provider_class: type[sms.SmsProvider]) -> None:
    provider = provider_class()
    assert isinstance(provider.name, str) and provider.name and provider.name != "abstract"
    for mobile in ("13800138000", "17000001234", "13800139999"):
        result = provider.send(mobile, "【工会】测试")
        assert isinstance(result, sms.SmsResult)
        assert isinstance(result.ok, bool)
        assert isinstance(result.message_id, str) and isinstance(result.error_code, str)
        if result.ok:
            assert result.message_id and not result.error_code
        else:
            assert result.error_code in ERROR_CODES and not result.message_id


def test_the_sandbox_is_among_the_providers_checked() -> None:
    assert sms.SandboxSmsProvider in all_providers()


@pytest.mark.parametrize("provider_class", all_providers(), ids=lambda cls: cls.__qualname__)
def test_every_send_is_recorded_in_the_outbox(db: Any, provider_class: type[sms.SmsProvider]) -> None:
    with use(provider_class):
        message = sms.send_sms(MOBILE, "【工会】测试", "notice")
    stored = SmsMessage.objects.get()
    assert stored == message
    assert (stored.mobile, stored.purpose, stored.text, stored.provider) == (
        MOBILE,
        "notice",
        "【工会】测试",
        provider_class.name,
    )
    assert stored.status in SmsMessage.Status.values


def test_a_provider_that_raises_is_recorded_as_a_gateway_error(db: Any) -> None:
    with use(CrashingProvider):
        message = sms.send_sms(MOBILE, "【工会】测试", "notice")
    assert (message.status, message.error_code) == (SmsMessage.Status.FAILED, "SMS_GATEWAY_ERROR")


# --- the sandbox gateway ---------------------------------------------------------------


def test_sandbox_throttles_a_number_within_55_seconds(db: Any) -> None:
    first = sms.send_sms(MOBILE, "一", "notice")
    second = sms.send_sms(MOBILE, "二", "notice")
    other = sms.send_sms("13900139000", "三", "notice")
    assert (first.status, first.provider_message_id[:4]) == (SmsMessage.Status.SENT, "sbx-")
    assert (second.status, second.error_code) == (SmsMessage.Status.THROTTLED, "SMS_THROTTLED")
    assert other.status == SmsMessage.Status.SENT
    age(MOBILE, 54)
    assert sms.send_sms(MOBILE, "四", "notice").status == SmsMessage.Status.THROTTLED
    age(MOBILE, 56)
    assert sms.send_sms(MOBILE, "五", "notice").status == SmsMessage.Status.SENT


def test_sandbox_cannot_reach_the_test_block(db: Any) -> None:
    message = sms.send_sms("17000001234", "一", "notice")
    assert (message.status, message.error_code) == (SmsMessage.Status.FAILED, "SMS_UNREACHABLE")


def test_sandbox_gateway_errors_on_numbers_ending_9999(db: Any) -> None:
    message = sms.send_sms("13800139999", "一", "notice")
    assert (message.status, message.error_code) == (SmsMessage.Status.FAILED, "SMS_GATEWAY_ERROR")


@pytest.mark.parametrize(
    ("mobile", "error"),
    [("17000001234", "SMS_UNREACHABLE"), ("13800139999", "SMS_GATEWAY_ERROR")],
)
def test_send_code_reports_gateway_refusals(db: Any, mobile: str, error: str) -> None:
    with pytest.raises(DomainError) as caught:
        sms.send_code(mobile)
    assert caught.value.code == error
    assert not SmsCode.objects.exists()


def test_send_code_too_soon_is_throttled(db: Any) -> None:
    sms.send_code(MOBILE)
    with pytest.raises(DomainError) as caught:
        sms.send_code(MOBILE)
    assert caught.value.code == "SMS_THROTTLED"
    assert SmsCode.objects.count() == 1


# --- one-time codes --------------------------------------------------------------------


def test_right_code_works_once(db: Any) -> None:
    code = code_in(sms.send_code(MOBILE))
    stored = SmsCode.objects.get()
    assert code not in stored.code_hash  # only a keyed hash is kept
    assert sms.check_code(MOBILE, "login", f" {code} ")
    assert not sms.check_code(MOBILE, "login", code)


def test_code_is_bound_to_number_and_purpose(db: Any) -> None:
    code = code_in(sms.send_code(MOBILE, "bind"))
    assert not sms.check_code(MOBILE, "login", code)
    assert not sms.check_code("13900139000", "bind", code)
    assert sms.check_code(MOBILE, "bind", code)


def test_wrong_codes_lock_the_code_after_five_tries(db: Any) -> None:
    code = code_in(sms.send_code(MOBILE))
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(sms.MAX_CODE_ATTEMPTS):
        assert not sms.check_code(MOBILE, "login", wrong)
    assert SmsCode.objects.get().attempts == sms.MAX_CODE_ATTEMPTS
    assert not sms.check_code(MOBILE, "login", code)
    assert SmsCode.objects.get().used_at is None


def test_right_code_after_four_wrong_tries_still_works(db: Any) -> None:
    code = code_in(sms.send_code(MOBILE))
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(sms.MAX_CODE_ATTEMPTS - 1):
        assert not sms.check_code(MOBILE, "login", wrong)
    assert sms.check_code(MOBILE, "login", code)


def test_expired_code_fails(db: Any) -> None:
    code = code_in(sms.send_code(MOBILE))
    row = SmsCode.objects.get()
    assert row.expires_at - row.created_at == timedelta(seconds=300)
    SmsCode.objects.filter(pk=row.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert not sms.check_code(MOBILE, "login", code)


def test_a_new_code_replaces_the_old_one(db: Any) -> None:
    old = code_in(sms.send_code(MOBILE))
    age(MOBILE, 60)
    new = code_in(sms.send_code(MOBILE))
    if old != new:
        assert not sms.check_code(MOBILE, "login", old)
    assert sms.check_code(MOBILE, "login", new)


def test_no_code_sent_means_no_login(db: Any) -> None:
    assert not sms.check_code(MOBILE, "login", "000000")


def test_a_real_gateway_gets_the_code_but_the_outbox_does_not(db: Any) -> None:
    AcceptingProvider.sent.clear()
    with use(AcceptingProvider):
        message = sms.send_code(MOBILE)
    ((mobile, text),) = AcceptingProvider.sent
    code = re.search(r"\d{6}", text)
    assert code and mobile == MOBILE
    assert code.group() not in message.text and "******" in message.text
    assert sms.check_code(MOBILE, "login", code.group())


# --- concurrency -----------------------------------------------------------------------


@pytest.mark.postgres_only
@on_postgres_only
def test_one_code_used_at_once_logs_in_only_once(transactional_db: Any) -> None:
    code = code_in(sms.send_code(MOBILE))
    results = race(*[partial(sms.check_code, MOBILE, "login", code)] * 8)
    assert results.count(True) == 1, results
    assert results.count(False) == 7, results


@pytest.mark.postgres_only
@on_postgres_only
def test_a_burst_of_wrong_guesses_still_locks_the_code(transactional_db: Any) -> None:
    code = code_in(sms.send_code(MOBILE))
    wrong = [f"{(int(code) + i) % 10**6:06d}" for i in range(1, 13)]
    assert race(*(partial(sms.check_code, MOBILE, "login", guess) for guess in wrong)) == [False] * len(wrong)
    assert SmsCode.objects.get().attempts == sms.MAX_CODE_ATTEMPTS
    assert not sms.check_code(MOBILE, "login", code)  # no more than five guesses were ever weighed
