"""Background work of the vote kind: mixing secret ballots."""

from __future__ import annotations

from django_tasks import task

from gonghui.activities.kinds.vote import actions
from gonghui.activities.models import Activity


@task()
def mix_secret_ballots_task(activity_id: int) -> int:
    activity = Activity.objects.filter(pk=activity_id, kind="vote").first()
    if activity is None:
        return 0
    return actions.mix_secret_ballots(activity, final=activity.finalised_at is not None)


@task()
def sweep_secret_ballots_task() -> dict[int, int]:
    return actions.sweep_secret_ballots()
