"""Scoped reads: the console's activity lists, "activities for me", participation charts."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, QuerySet
from django.db.models.functions import Substr

from gonghui.activities.eligibility import in_audience
from gonghui.activities.models import Activity, ActivityStatus, Participation
from gonghui.core import access
from gonghui.core.access import Perm
from gonghui.core.rowreader import RowReader
from gonghui.members.models import Member
from gonghui.orgs.models import Org

STEP = Org.steplen


def ancestor_paths(path: str) -> list[str]:
    """A path and every ancestor's path (the unions whose activities can reach it)."""
    return [path[:n] for n in range(STEP, len(path) + 1, STEP)]


def for_cadre(user: Any, perm: Perm = Perm.ACTIVITY_VIEW) -> QuerySet[Activity]:
    """Activities organised anywhere in the cadre's subtrees."""
    return access.scope(user, Activity.objects.select_related("org"), perm)


def get_for_cadre(user: Any, pk: int, perm: Perm = Perm.ACTIVITY_VIEW) -> Activity:
    return access.get_object_or_404(user, Activity.objects.select_related("org"), perm, pk=pk)


def visible_to_member(member: Member) -> QuerySet[Activity]:
    """Published activities organised by the member's union or any of its ancestors."""
    return (
        Activity.objects.filter(
            org_path__in=ancestor_paths(member.org_path),
            status__in=(ActivityStatus.PUBLISHED, ActivityStatus.CLOSED),
        )
        .select_related("org")
        .order_by("-starts_at", "-pk")
    )


def for_member(member: Member, *, limit: int = 100) -> list[Activity]:
    """ "Activities for me": those whose audience includes the member (any state but draft)."""
    return [a for a in visible_to_member(member)[: limit * 2] if in_audience(a, member)][:limit]


# Read on every member action (a vote, a grab): SQL written once (core.rowreader).
_BY_ID = RowReader(Activity, "pk", related=("org",))
_PUBLIC = frozenset((ActivityStatus.PUBLISHED, ActivityStatus.CLOSED))


def get_public(pk: int) -> Activity | None:
    """A published (or closed) activity: its page is public; whether someone may take part
    is ``eligibility``'s answer, shown on the page."""
    activity = _BY_ID.get(pk)
    return activity if activity is not None and activity.status in _PUBLIC else None


def participated_ids(member: Member, activity_ids: list[int]) -> set[int]:
    return set(
        Participation.objects.filter(member=member, activity_id__in=activity_ids).values_list("activity_id", flat=True)
    )


def my_participations(member: Member) -> QuerySet[Participation]:
    return (
        Participation.objects.filter(member=member)
        .select_related("activity", "activity__org")
        .order_by("-on_date", "-pk")
    )


def participation_count(activity: Activity) -> int:
    return Participation.objects.filter(activity=activity).count()


def participation_by_suborg(activity: Activity) -> list[dict[str, Any]]:
    """Participants per direct sub-union of the organiser (and the organiser itself), most first."""
    width = len(activity.org_path) + STEP
    rows = (
        Participation.objects.filter(activity=activity)
        .annotate(branch=Substr("org_path", 1, width))
        .values("branch")
        .annotate(n=Count("id"))
        .order_by("-n")
    )
    counts = {r["branch"]: r["n"] for r in rows}
    names = dict(Org.objects.filter(path__in=list(counts)).values_list("path", "name"))
    result = []
    for branch, n in counts.items():
        name = names.get(branch, "")
        if branch == activity.org_path or len(branch) < width:
            name = f"{activity.org.name}（本级）"
        result.append({"path": branch, "name": name, "count": n})
    return result


def participation_by_day(activity: Activity) -> list[dict[str, Any]]:
    rows = Participation.objects.filter(activity=activity).values("on_date").annotate(n=Count("id")).order_by("on_date")
    return [{"date": r["on_date"].isoformat(), "count": r["n"]} for r in rows]
