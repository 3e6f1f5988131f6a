"""Background work of the lottery: redraw prizes whose winner did not claim in time."""

from __future__ import annotations

from django_tasks import task

from gonghui.activities.kinds.lottery import actions


@task()
def redraw_unclaimed_task() -> list[int]:
    return actions.redraw_unclaimed()
