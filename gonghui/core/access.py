"""The one place that answers "may this user do X here?" and scopes every query.

Tenancy is the union tree. A cadre holds roles on orgs; a role on an org grants its
permissions over that org's whole subtree. Every scoped model names the field that
holds the materialized path of the org it belongs to (``scope_path_field``): an org's
own ``path``, a member's ``org_path``, an audit event's ``org_path``. Scoping is then a
``path LIKE 'prefix%'`` test, which an index answers.

Outside the caller's subtree an object does not exist: lookups raise ``Http404``, never
``PermissionDenied``, so a cadre cannot probe another district for what exists there.

The role rows live in the orgs app; core reads them by model label so that core does
not import a domain module.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.apps import apps
from django.core.exceptions import ObjectDoesNotExist
from django.db import models
from django.db.models import Q
from django.http import Http404
from django.utils.translation import gettext_lazy as _


class Perm(enum.StrEnum):
    ORG_VIEW = "org.view"
    ORG_CHANGE = "org.change"
    MEMBER_VIEW = "member.view"
    MEMBER_CHANGE = "member.change"
    MEMBER_REVEAL = "member.reveal"  # unmasked ID number / bank account, audited
    MEMBER_EXPORT_UNMASKED = "member.export_unmasked"
    AUDIT_VIEW = "audit.view"
    ROLE_MANAGE = "role.manage"
    SMS_OUTBOX_VIEW = "sms.outbox_view"
    ACTIVITY_VIEW = "activity.view"  # activity lists, results, participation charts
    ACTIVITY_MANAGE = "activity.manage"  # create, edit, publish, close, check people in
    NEWS_PUBLISH = "news.publish"  # compose, publish, withdraw, pin news items (资讯)
    POINTS_VIEW = "points.view"  # members' points balances and statements, points reports
    POINTS_MANAGE = "points.manage"  # earning rules, cadre grants and deductions
    COUPON_VIEW = "coupon.view"  # coupon templates, issued coupons, redemption reports
    COUPON_MANAGE = "coupon.manage"  # merchants and their accounts, coupon templates, stock, issuing
    MALL_MANAGE = "mall.manage"  # points-mall goods, images, stock, virtual codes, cancelling orders, reports
    MALL_FULFIL = "mall.fulfil"  # points-mall orders: list, ship, confirm pickup by the member's code


class RoleKind(models.TextChoices):
    CHAIR = "chair", _("主席")
    ADMIN = "admin", _("管理员")
    STAFF = "staff", _("干事")
    AUDITOR = "auditor", _("审计员")


_VIEW = {Perm.ORG_VIEW, Perm.MEMBER_VIEW, Perm.ACTIVITY_VIEW, Perm.POINTS_VIEW, Perm.COUPON_VIEW}
ROLE_PERMS: dict[str, frozenset[Perm]] = {
    RoleKind.CHAIR: frozenset(Perm),
    RoleKind.ADMIN: frozenset(Perm),
    RoleKind.STAFF: frozenset(
        _VIEW
        | {
            Perm.ORG_CHANGE,
            Perm.MEMBER_CHANGE,
            Perm.ACTIVITY_MANAGE,
            Perm.NEWS_PUBLISH,
            Perm.POINTS_MANAGE,
            Perm.COUPON_MANAGE,
            Perm.MALL_MANAGE,
            Perm.MALL_FULFIL,
        }
    ),
    RoleKind.AUDITOR: frozenset(_VIEW | {Perm.AUDIT_VIEW}),
}


@dataclass(frozen=True)
class Grant:
    org_id: int
    path: str
    role: str

    def allows(self, perm: Perm) -> bool:
        return perm in ROLE_PERMS.get(self.role, frozenset())


_CACHE_ATTR = "_gonghui_grants"


def grants(user: Any) -> list[Grant]:
    """The user's roles, read once per request (cached on the user object)."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return []
    cached: list[Grant] | None = getattr(user, _CACHE_ATTR, None)
    if cached is None:
        role_model = apps.get_model("orgs", "Role")
        rows = role_model.objects.filter(user_id=user.pk, org__status="active").values_list(
            "org_id", "org__path", "role"
        )
        cached = [Grant(org_id, path, role) for org_id, path, role in rows]
        setattr(user, _CACHE_ATTR, cached)
    return cached


def forget(user: Any) -> None:
    """Drop the cached grants (after roles change within a request)."""
    if hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)


def is_cadre(user: Any) -> bool:
    return bool(grants(user))


def _minimal(paths: Iterable[str]) -> list[str]:
    """Drop paths that lie inside another path of the list: fewer OR terms."""
    result: list[str] = []
    for path in sorted(set(paths)):
        if not result or not path.startswith(result[-1]):
            result.append(path)
    return result


def scope_paths(user: Any, perm: Perm) -> list[str]:
    return _minimal(g.path for g in grants(user) if g.allows(perm))


def can(user: Any, perm: Perm, path: str) -> bool:
    """May ``user`` do ``perm`` on something whose org path is ``path``?"""
    return any(path.startswith(p) for p in scope_paths(user, perm))


def can_anywhere(user: Any, perm: Perm) -> bool:
    return bool(scope_paths(user, perm))


M = TypeVar("M", bound=models.Model)


def path_field_of(qs: models.QuerySet[Any]) -> str:
    field: str | None = getattr(qs.model, "scope_path_field", None)
    if not field:
        raise TypeError(f"{qs.model.__name__} declares no scope_path_field")
    return field


def scope(user: Any, qs: models.QuerySet[M], perm: Perm, path_field: str | None = None) -> models.QuerySet[M]:
    """Restrict ``qs`` to rows inside the subtrees where ``user`` holds ``perm``."""
    field = path_field or path_field_of(qs)
    paths = scope_paths(user, perm)
    if not paths:
        return qs.none()
    condition = Q()
    for path in paths:
        condition |= Q(**{f"{field}__startswith": path})
    return qs.filter(condition)


def get_object_or_404(user: Any, qs: models.QuerySet[M], perm: Perm, path_field: str | None = None, **lookup: Any) -> M:
    """Fetch one object inside the user's scope; anything else is a 404."""
    try:
        return scope(user, qs, perm, path_field).get(**lookup)
    except (ObjectDoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc


def require(user: Any, perm: Perm, path: str) -> None:
    """Raise 404 unless ``user`` holds ``perm`` over ``path``.

    Used when the object is already loaded (for a second permission, such as reveal, on
    an object the user may view): the answer is still 404 so nothing leaks.
    """
    if not can(user, perm, path):
        raise Http404
