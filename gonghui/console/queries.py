"""Scoped aggregate reads the console shows beside lists: counts by level, status, subtree.

Each function is one query, whatever the number of orgs it reports on.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q
from django.db.models.functions import Substr

from gonghui.core import access
from gonghui.core.access import Perm
from gonghui.members.models import Member, MemberStatus
from gonghui.orgs.models import Org, OrgLevel, OrgStatus


def _current_members(user: Any) -> Any:
    return access.scope(user, Member.objects.exclude(status=MemberStatus.LEFT), Perm.MEMBER_VIEW)


def unions_by_level(user: Any) -> list[dict[str, Any]]:
    """Active unions in the user's subtrees, per level, in the order of the levels."""
    rows = dict(
        access.scope(user, Org.objects.filter(status=OrgStatus.ACTIVE), Perm.ORG_VIEW)
        .values_list("level")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return [
        {"level": value, "label": label, "count": rows[value]} for value, label in OrgLevel.choices if rows.get(value)
    ]


def members_by_status(user: Any) -> list[dict[str, Any]]:
    rows = dict(
        access.scope(user, Member.objects.all(), Perm.MEMBER_VIEW)
        .values_list("status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return [{"status": value, "label": label, "count": rows.get(value, 0)} for value, label in MemberStatus.choices]


def subtree_member_counts(user: Any, orgs: list[Org]) -> dict[int, int]:
    """Current members (not left) under each org's subtree, in one conditional aggregate."""
    if not orgs:
        return {}
    aggregates = {f"o{org.pk}": Count("pk", filter=Q(org_path__startswith=org.path)) for org in orgs}
    totals = _current_members(user).aggregate(**aggregates)
    return {org.pk: int(totals[f"o{org.pk}"] or 0) for org in orgs}


def child_member_counts(user: Any, parent: Org) -> dict[str, int]:
    """Current members under each child subtree of ``parent``, keyed by child path.

    One GROUP BY on the first path step below the parent: members carry their org's path,
    so the child a member belongs under is a prefix of ``org_path``.
    """
    width = len(parent.path) + Org.steplen
    rows = (
        _current_members(user)
        .filter(org_path__startswith=parent.path)
        .annotate(child_path=Substr("org_path", 1, width))
        .values_list("child_path")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return {path: int(n) for path, n in rows if len(path) == width}
