"""Authentication: password or SMS code, throttled and audited.

Throttling counts failures per account identifier and per client IP in the cache; once
either passes ``LOGIN_MAX_FAILURES`` inside the window, further attempts are refused
before any password is checked. The cache is not needed for correctness elsewhere, but
here a shared cache (Redis) across web processes makes the limit global.

Every interface that signs people in (console, portal) reports the outcome through
``record_login`` / ``record_login_failure``, so the audit trail reads the same whichever
door was used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import HttpRequest

from gonghui.core import access, audit, pii
from gonghui.core.errors import DomainError
from gonghui.core.middleware import client_ip
from gonghui.core.models import User
from gonghui.core.rowreader import RowReader

# The session's account, read on every authenticated request: SQL written once.
_ACCOUNT = RowReader(User, "pk")


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

    def get_user(self, user_id: Any) -> User | None:
        """``ModelBackend.get_user`` (the account, if it may still sign in) without
        compiling the query on every request."""
        try:
            pk = User._meta.pk.to_python(user_id)  # type: ignore[union-attr]
        except ValidationError:
            return None
        user = _ACCOUNT.get(pk)
        return user if user is not None and self.user_can_authenticate(user) else None


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


# --- the login audit trail, shared by every way in (console, portal) -------------------------

# How the current session proved who it is ("password" or "sms"); later steps may ask
# for more when the first factor was weaker (console TOTP enrolment asks a password
# session to prove the registered mobile too).
SESSION_LOGIN_METHOD_KEY = "gonghui_login_method"


@dataclass(frozen=True)
class _OrgRef:
    """What ``audit.record`` needs of an org (its id and path), without loading the row."""

    pk: int
    path: str


def mask_identifier(identifier: str) -> str:
    """A login name or mobile, recognisable to its owner in the audit log, useless to others.

    Login names are masked as well: people type their password into the name field, and
    a failed attempt must not write it to the log.
    """
    if len(identifier) == 11 and identifier.isdigit():
        return pii.mask_mobile(identifier)
    if len(identifier) <= 2:
        return "*" * len(identifier)
    return identifier[:2] + "*" * min(len(identifier) - 2, 6)


def _home_org(user: Any) -> _OrgRef | None:
    """The union a user's account events are filed under, so its auditors can read them.

    A cadre's topmost role; otherwise the member's union; otherwise none. Read by model
    label: core does not import the domains.
    """
    top = min(access.grants(user), key=lambda g: (len(g.path), g.path), default=None)
    if top is not None:
        return _OrgRef(top.org_id, top.path)
    member_model = apps.get_model("members", "Member")
    row = member_model.objects.filter(user_id=user.pk).values_list("org_id", "org_path").first()
    return _OrgRef(row[0], row[1]) if row else None


def _where(request: HttpRequest) -> str:
    """Which interface the request came through: "console", "portal", … (the URL namespace)."""
    match = request.resolver_match
    return (match.namespace if match is not None else "") or ""


def record_login(request: HttpRequest, user: Any, method: str) -> None:
    """Audit a successful sign-in and remember in the session how it was made.

    Call right after ``django.contrib.auth.login`` (which starts the session afresh).
    """
    request.session[SESSION_LOGIN_METHOD_KEY] = method
    audit.record(
        "auth.login",
        actor=user,
        obj=user,
        org=_home_org(user),
        details={"method": method, "where": _where(request)},
    )


def record_login_failure(
    request: HttpRequest, identifier: str, method: str, *, reason: str = "bad_credentials"
) -> None:
    """Count a failed sign-in towards the throttle and audit it with the identifier masked.

    Attempts refused by the throttle itself are not recorded: a locked-out attacker
    hammering the form must not be able to grow the audit table without bound.
    """
    note_failure(identifier, client_ip(request))
    audit.record(
        "auth.login_failed",
        actor_label="匿名",
        details={
            "identifier": mask_identifier(identifier),
            "method": method,
            "reason": reason,
            "where": _where(request),
        },
    )


def login_method(request: HttpRequest) -> str:
    """How this session signed in ("password", "sms"), or "" when unknown."""
    method = request.session.get(SESSION_LOGIN_METHOD_KEY, "")
    return method if isinstance(method, str) else ""
