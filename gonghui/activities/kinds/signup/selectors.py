"""Reads of the sign-up kind: a member's registration, waitlist place, counts, the
organiser's filtered list. Console and API callers have already scoped the activity
through ``activities.selectors.get_for_cadre``."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from gonghui.activities.kinds.signup.config import SignUpRules
from gonghui.activities.kinds.signup.kind import counts
from gonghui.activities.kinds.signup.models import LIVE_STATUSES, Registration, RegistrationStatus
from gonghui.activities.models import Activity
from gonghui.members.models import Member

S = RegistrationStatus

FILTERS: dict[str, dict[str, Any]] = {
    "": {},
    "confirmed": {"status": S.CONFIRMED},
    "waitlisted": {"status__in": [S.WAITLISTED, S.OFFERED]},
    "checked_in": {"status": S.CONFIRMED, "checked_in_at__isnull": False},
    "absent": {"status": S.CONFIRMED, "checked_in_at__isnull": True},
    "cancelled": {"status__in": [S.CANCELLED, S.EXPIRED, S.DECLINED]},
}


def registration_of(activity: Activity, member: Member | None) -> Registration | None:
    """The member's live registration, else their latest one (cancelled, expired…)."""
    if member is None:
        return None
    mine = Registration.objects.filter(activity=activity, member=member).select_related("member", "member__org")
    return mine.filter(status__in=LIVE_STATUSES).first() or mine.order_by("-created_at", "-pk").first()


def waitlist_ahead(registration: Registration) -> int:
    """How many waitlisted members are ahead (0: next in line)."""
    if registration.status != S.WAITLISTED or registration.position is None:
        return 0
    return Registration.objects.filter(
        activity_id=registration.activity_id, status=S.WAITLISTED, position__lt=registration.position
    ).count()


def public_numbers(activity: Activity) -> dict[str, int]:
    """What every member may see: capacity, seats left, people waiting."""
    rules = SignUpRules.of(activity)
    c = counts(activity)
    return {
        "capacity": rules.capacity,
        "remaining": max(rules.capacity - c["confirmed"] - c["offered"], 0),
        "waitlisted": c["waitlisted"] + c["offered"],
        "confirmed": c["confirmed"],
    }


def registrations(activity: Activity, *, show: str = "", q: str = "") -> QuerySet[Registration]:
    qs = (
        Registration.objects.filter(activity=activity, **FILTERS.get(show, {}))
        .select_related("member", "member__org")
        .order_by("status", "position", "created_at", "pk")
    )
    q = q.strip()
    if q:
        code = q.replace("-", "").upper()
        qs = qs.filter(member__name__contains=q) | qs.filter(ticket_code=code)
    return qs


def attendance(activity: Activity) -> dict[str, int]:
    c = counts(activity)
    return {"confirmed": c["confirmed"], "checked_in": c["checked_in"], "absent": c["confirmed"] - c["checked_in"]}
