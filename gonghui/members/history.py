"""The membership history: one append-only event per lifecycle step (MembershipEvent)."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from gonghui.members.models import EventKind, Member, MembershipEvent
from gonghui.orgs.models import Org


def record_event(
    member: Member,
    kind: EventKind | str,
    *,
    org: Org | None = None,
    from_org: Org | None = None,
    actor: Any = None,
    note: str = "",
    on_date: date | None = None,
) -> MembershipEvent:
    """Append one step; call inside the action's transaction. ``org`` defaults to the member's."""
    return MembershipEvent.objects.create(
        member=member,
        kind=kind,
        org=org or member.org,
        from_org=from_org,
        on_date=on_date or timezone.localdate(),
        note=note[:500],
        actor=actor if actor is not None and getattr(actor, "pk", None) else None,
    )


def history(member: Member) -> QuerySet[MembershipEvent]:
    """The member's events, oldest first, with their unions."""
    return member.events.select_related("org", "from_org", "actor").order_by("on_date", "id")


def unions_belonged_to(member: Member) -> list[Org]:
    """Every union the membership has been held at, in order, each once per stay."""
    stays: list[Org] = []
    for event in history(member):
        if not stays or stays[-1].pk != event.org_id:
            stays.append(event.org)
    return stays
