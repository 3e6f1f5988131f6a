"""Sending SMS through a provider interface.

A provider is a small class with one method, ``send``. Which one runs is the setting
``SMS_PROVIDER``. The sandbox provider behaves like a carrier gateway — per-number rate
limits, rejection of numbers that cannot receive, transient failures — and keeps
everything it "sends" in the outbox (``core.SmsMessage``), which cadres with the right
role can read in the console and which is also written to the log. A real gateway
adapter subclasses ``SmsProvider`` and is selected by the setting.

Every send, whatever the provider, is recorded in the outbox with its outcome.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

from django.conf import settings
from django.db.models import F
from django.utils import timezone
from django.utils.module_loading import import_string

from gonghui.core.errors import DomainError
from gonghui.core.models import SmsCode, SmsMessage

log = logging.getLogger("gonghui.sms")


@dataclass(frozen=True)
class SmsResult:
    ok: bool
    message_id: str = ""
    error_code: str = ""  # SMS_THROTTLED, SMS_UNREACHABLE, SMS_GATEWAY_ERROR


class SmsProvider:
    """The adapter contract: ``send`` returns an ``SmsResult`` and should not raise.

    ``ok`` with a non-empty ``message_id`` when the gateway accepted the message;
    otherwise ``ok`` is false and ``error_code`` is one of the codes above. An exception
    escaping ``send`` is recorded as ``SMS_GATEWAY_ERROR``.
    """

    name = "abstract"
    # Whether the outbox and the log may keep verification codes in clear. Only a
    # gateway double may: with a real gateway, anyone reading the outbox could log in.
    outbox_shows_codes = False

    def send(self, mobile: str, text: str) -> SmsResult:
        raise NotImplementedError


class SandboxSmsProvider(SmsProvider):
    """A gateway double with real state and failure modes.

    - At most one message per number per ``min_interval`` seconds (carriers enforce
      this): later sends fail with ``SMS_THROTTLED``.
    - Numbers in the reserved test block 170-0000-xxxx cannot receive:
      ``SMS_UNREACHABLE``.
    - Numbers ending in ``9999`` see a transient gateway error: ``SMS_GATEWAY_ERROR``.
    """

    name = "sandbox"
    min_interval = 55
    outbox_shows_codes = True  # the outbox is how `make run` users read their codes

    def send(self, mobile: str, text: str) -> SmsResult:
        if mobile.startswith("1700000"):
            return SmsResult(False, error_code="SMS_UNREACHABLE")
        if mobile.endswith("9999"):
            return SmsResult(False, error_code="SMS_GATEWAY_ERROR")
        since = timezone.now() - timedelta(seconds=self.min_interval)
        if SmsMessage.objects.filter(
            mobile=mobile, provider=self.name, status=SmsMessage.Status.SENT, created_at__gte=since
        ).exists():
            return SmsResult(False, error_code="SMS_THROTTLED")
        return SmsResult(True, message_id=f"sbx-{secrets.token_hex(8)}")


@lru_cache(maxsize=1)
def _provider(path: str) -> SmsProvider:
    provider: SmsProvider = import_string(path)()
    return provider


def provider() -> SmsProvider:
    return _provider(settings.SMS_PROVIDER)


def send_sms(mobile: str, text: str, purpose: str, *, recorded_text: str | None = None) -> SmsMessage:
    """Send ``text`` and record the outcome in the outbox.

    ``recorded_text`` is what the outbox and the log keep instead of ``text`` (a
    verification code blanked out).
    """
    prov = provider()
    try:
        result = prov.send(mobile, text)
    except Exception:
        log.exception("sms provider %s failed sending to %s", prov.name, mobile)
        result = SmsResult(False, error_code="SMS_GATEWAY_ERROR")
    shown = text if recorded_text is None else recorded_text
    status = (
        SmsMessage.Status.SENT
        if result.ok
        else (SmsMessage.Status.THROTTLED if result.error_code == "SMS_THROTTLED" else SmsMessage.Status.FAILED)
    )
    message = SmsMessage.objects.create(
        mobile=mobile,
        purpose=purpose,
        text=shown,
        provider=prov.name,
        status=status,
        provider_message_id=result.message_id,
        error_code=result.error_code,
    )
    log.info("sms %s to %s purpose=%s status=%s: %s", message.pk, mobile, purpose, status, shown)
    return message


MAX_CODE_ATTEMPTS = 5


def _hash_code(mobile: str, purpose: str, code: str) -> str:
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"{mobile}:{purpose}:{code}".encode(), hashlib.sha256).hexdigest()


def send_code(mobile: str, purpose: str = "login") -> SmsMessage:
    """Send a fresh 6-digit code. Raises DomainError when the gateway refuses."""
    code = f"{secrets.randbelow(10**6):06d}"
    text = f"【工会】您的验证码是 {code}，{settings.SMS_CODE_TTL_SECONDS // 60} 分钟内有效。如非本人操作请忽略。"
    recorded = text if provider().outbox_shows_codes else text.replace(code, "******")
    message = send_sms(mobile, text, purpose, recorded_text=recorded)
    if message.status != SmsMessage.Status.SENT:
        errors = {
            "SMS_THROTTLED": "验证码发送过于频繁，请稍后再试。",
            "SMS_UNREACHABLE": "该手机号无法接收短信，请检查号码。",
        }
        raise DomainError(message.error_code, errors.get(message.error_code, "短信通道暂时不可用，请稍后重试。"))
    now = timezone.now()
    SmsCode.objects.create(
        mobile=mobile,
        purpose=purpose,
        code_hash=_hash_code(mobile, purpose, code),
        created_at=now,
        expires_at=now + timedelta(seconds=settings.SMS_CODE_TTL_SECONDS),
    )
    return message


def check_code(mobile: str, purpose: str, code: str) -> bool:
    """Consume the newest live code if ``code`` matches.

    Every try counts against the code; after ``MAX_CODE_ATTEMPTS`` tries it is dead and a
    new one must be sent.
    """
    now = timezone.now()
    latest = (
        SmsCode.objects.filter(mobile=mobile, purpose=purpose, used_at__isnull=True, expires_at__gt=now)
        .order_by("-created_at", "-id")
        .first()
    )
    if latest is None:
        return False
    # Count the try before comparing, in one conditional UPDATE: guesses sent in parallel
    # cannot all read the same ``attempts`` and so cannot exceed MAX_CODE_ATTEMPTS
    # between them (a read-then-write count let a burst of requests try far more).
    counted = SmsCode.objects.filter(pk=latest.pk, used_at__isnull=True, attempts__lt=MAX_CODE_ATTEMPTS).update(
        attempts=F("attempts") + 1
    )
    if not counted:
        return False
    if not hmac.compare_digest(latest.code_hash, _hash_code(mobile, purpose, code.strip())):
        return False
    # Conditional update: two concurrent logins with the same code, only one wins.
    return SmsCode.objects.filter(pk=latest.pk, used_at__isnull=True).update(used_at=now) == 1
