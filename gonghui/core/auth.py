"""Authentication: password or SMS code, throttled.

Throttling counts failures per account identifier and per client IP in the cache; once
either passes ``LOGIN_MAX_FAILURES`` inside the window, further attempts are refused
before any password is checked. The cache is not needed for correctness elsewhere, but
here a shared cache (Redis) across web processes makes the limit global.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.db.models import Q
from django.http import HttpRequest

from gonghui.core.errors import DomainError
from gonghui.core.models import User


class MobileOrUsernameBackend(ModelBackend):
    """Password login by login name or by mobile number."""

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> User | None:
        if not username or not password:
            return None
        user = User.objects.filter(Q(username=username) | Q(mobile=username)).first()
        if user is None:
            User().set_password(password)  # same work as a real check: no timing oracle
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None


def _keys(identifier: str, ip: str | None) -> list[str]:
    keys = [f"login-fail:id:{identifier.lower()}"]
    if ip:
        keys.append(f"login-fail:ip:{ip}")
    return keys


def ensure_not_throttled(identifier: str, ip: str | None) -> None:
    limit = settings.LOGIN_MAX_FAILURES
    # Per IP allow more: a union office shares one address behind NAT.
    for key in _keys(identifier, ip):
        allowed = limit if ":id:" in key else limit * 10
        if int(cache.get(key, 0)) >= allowed:
            minutes = settings.LOGIN_FAILURE_WINDOW_SECONDS // 60
            raise DomainError("LOGIN_THROTTLED", f"登录失败次数过多，请 {minutes} 分钟后再试。")


def note_failure(identifier: str, ip: str | None) -> None:
    for key in _keys(identifier, ip):
        if cache.add(key, 1, settings.LOGIN_FAILURE_WINDOW_SECONDS):
            continue
        try:
            cache.incr(key)
        except ValueError:
            cache.set(key, 1, settings.LOGIN_FAILURE_WINDOW_SECONDS)


def clear_failures(identifier: str) -> None:
    cache.delete(f"login-fail:id:{identifier.lower()}")
