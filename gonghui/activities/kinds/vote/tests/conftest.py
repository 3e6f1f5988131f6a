"""Helpers of the vote tests: a vote set up through the same actions organisers use."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from gonghui.activities import actions as activity_actions
from gonghui.activities.kinds.vote import actions
from gonghui.activities.kinds.vote.models import Candidate
from gonghui.activities.models import Activity
from gonghui.orgs.models import Org

NAMES = ("王红", "李明", "陈静", "赵强")


def make_vote(
    org: Org,
    *,
    actor: Any = None,
    candidates: int = 3,
    publish: bool = True,
    title: str = "2026 年度最美职工评选",
    values: dict[str, Any] | None = None,
    **settings: Any,
) -> Activity:
    now = timezone.now()
    activity = activity_actions.create_activity(
        actor=actor,
        org=org,
        kind="vote",
        values={"title": title, "starts_at": now - timedelta(minutes=1), "ends_at": now + timedelta(days=3)}
        | (values or {}),
        settings=settings,
    )
    for i in range(candidates):
        actions.add_candidate(
            actor=actor, activity=activity, values={"name": NAMES[i % len(NAMES)] + str(i), "text": "先进事迹"}
        )
    if publish:
        activity = activity_actions.publish_activity(actor=actor, activity=activity)
    return activity


def candidate_ids(activity: Activity) -> list[int]:
    return list(Candidate.objects.filter(activity=activity).order_by("order").values_list("pk", flat=True))
