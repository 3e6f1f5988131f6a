"""Background work for points: awards for events other modules announce, and expiry."""

from __future__ import annotations

from django_tasks import task

from gonghui.members.models import Member
from gonghui.points import ledger, rules


@task()
def award_task(member_id: int, kind: str, object_id: str) -> int:
    """Pay an event (idempotent: a retried task pays nothing twice)."""
    member = Member.objects.filter(pk=member_id).first()
    if member is None:
        return 0
    return rules.award(member, kind, object_id).points


@task()
def award_many_task(member_ids: list[int], kind: str, object_id: str) -> int:
    """Pay the same event to many members (a batch of first ballots); the sum of their
    awards (as ``award_task``, an award already paid counts again on a re-run). Each award
    is its own idempotent transaction, so a retried task pays only those a failed run did
    not reach."""
    paid = 0
    for member in Member.objects.filter(pk__in=member_ids).order_by("pk").iterator(chunk_size=500):
        paid += rules.award(member, kind, object_id).points
    return paid


@task()
def expire_points_task() -> int:
    return ledger.expire_due()
