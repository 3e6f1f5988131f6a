"""Cadre accounts as the union tree sees them: resetting a cadre's second factor.

A cadre who lost their phone cannot pass the TOTP step and cannot use their recovery
codes if those went with it. A cadre holding ``Perm.ROLE_MANAGE`` over them resets the
second factor: the TOTP device(s) and recovery codes are deleted and every session of
the account ends, so whoever holds the old phone or a stolen session cookie is out too.
The cadre binds a new device at the next sign-in, after proving the registered mobile.

Who may reset whom follows the tree, and only downwards: every role the target holds
must lie inside the resetter's ``ROLE_MANAGE`` scope. A district admin therefore cannot
reset the province admin, even when the province admin also holds a role in the
district; nor a cadre who also works in a district the resetter does not manage. Nobody
resets their own second factor this way (that would let a stolen password replace it).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore as DbSessionStore
from django.contrib.sessions.models import Session
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from gonghui.core import access, audit
from gonghui.core.access import Perm
from gonghui.core.errors import DomainError, InvalidValue
from gonghui.core.models import User
from gonghui.orgs.models import Org, Role

SESSION_BATCH = 2000


@dataclass(frozen=True)
class SecondFactorReset:
    totp_devices: int
    recovery_devices: int
    sessions_ended: int


def _role_paths(user_ids: Iterable[int]) -> dict[int, list[str]]:
    """Every org path each user holds a role on, closed unions included (one query)."""
    paths: dict[int, list[str]] = defaultdict(list)
    for user_id, path in Role.objects.filter(user_id__in=list(user_ids)).values_list("user_id", "org__path"):
        paths[user_id].append(path)
    return paths


def _refusal(actor: Any, target: Any, target_paths: list[str]) -> DomainError | None:
    """Why ``actor`` may not reset ``target``'s second factor, or ``None`` when they may."""
    if target.pk == actor.pk:
        return DomainError("TOTP_RESET_SELF", "不能重置自己的动态口令；如需重置，请联系上级工会的管理员。")
    if target.is_superuser:
        return DomainError("TOTP_RESET_SUPERUSER", "平台超级管理员的动态口令只能由平台运维人员重置。")
    if not target_paths:
        return DomainError("TOTP_RESET_NOT_CADRE", "该账号不是工会干部，没有动态口令可重置。")
    scope = access.scope_paths(actor, Perm.ROLE_MANAGE)
    if not all(any(path.startswith(p) for p in scope) for path in target_paths):
        return DomainError(
            "TOTP_RESET_SUPERIOR",
            "该干部在您管辖范围以外（如上级工会）也担任职务，其动态口令须由上级工会的管理员重置。",
        )
    return None


def resettable(actor: Any, user_ids: Iterable[int]) -> set[int]:
    """Which of ``user_ids`` ``actor`` may reset, for showing the button (one query)."""
    ids = list(user_ids)
    paths = _role_paths(ids)
    users = {user.pk: user for user in User.objects.filter(pk__in=ids)}
    return {uid for uid, user in users.items() if _refusal(actor, user, paths.get(uid, [])) is None}


def _session_store() -> type[DbSessionStore]:
    store: type[Any] = import_module(settings.SESSION_ENGINE).SessionStore
    if not issubclass(store, DbSessionStore):
        # Ending a cadre's sessions is part of the reset; with sessions outside the
        # database it could not be done, and a reset that leaves them signed in is a hole.
        raise ImproperlyConfigured("resetting a second factor needs database-backed sessions (db or cached_db)")
    return store


def _end_sessions(user: Any) -> int:
    """Delete every live session of ``user``.

    Sessions do not index their user, so the live ones are decoded in batches. This is a
    rare cadre action, and the deletion must be complete: a session left behind would
    still carry the old verified device. Each is deleted through the session engine so
    a cached copy (``cached_db``) goes too.
    """
    store = _session_store()
    wanted = str(user.pk)
    live = Session.objects.filter(expire_date__gt=timezone.now()).order_by("pk")
    doomed = [
        session.pk
        for session in live.iterator(chunk_size=SESSION_BATCH)
        if str(session.get_decoded().get("_auth_user_id", "")) == wanted
    ]
    for key in doomed:
        store(session_key=key).delete()
    return len(doomed)


@transaction.atomic
def reset_second_factor(*, actor: Any, user: Any, reason: str) -> SecondFactorReset:
    """Delete ``user``'s TOTP devices and recovery codes and end their sessions; audited.

    The caller has already found ``user`` through a role inside the actor's scope; this
    re-checks the rules above against all of the user's roles.
    """
    reason = reason.strip()
    if not reason:
        raise InvalidValue("TOTP_RESET_REASON_REQUIRED", "请填写重置原因。")
    # Lock the target's roles: a role granted above the actor at this moment either
    # commits first and is seen here, or waits for the reset to finish.
    roles = Role.objects.select_for_update(of=("self",)).filter(user_id=user.pk)
    paths = list(roles.values_list("org__path", flat=True))
    refusal = _refusal(actor, user, paths)
    if refusal is not None:
        raise refusal
    totp_devices = TOTPDevice.objects.filter(user_id=user.pk).delete()[1].get(TOTPDevice._meta.label, 0)
    # The recovery codes (StaticToken rows) go with their device.
    recovery_devices = StaticDevice.objects.filter(user_id=user.pk).delete()[1].get(StaticDevice._meta.label, 0)
    sessions_ended = _end_sessions(user)
    top = min(paths, key=lambda p: (len(p), p))
    audit.record(
        "auth.totp_reset",
        actor=actor,
        obj=user,
        org=Org.objects.only("pk", "path").get(path=top),
        details={
            "reason": reason,
            "totp_devices": totp_devices,
            "recovery_devices": recovery_devices,
            "sessions_ended": sessions_ended,
        },
    )
    return SecondFactorReset(totp_devices, recovery_devices, sessions_ended)
