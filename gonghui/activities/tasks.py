"""Background work for activities."""

from __future__ import annotations

from django_tasks import task

from gonghui.activities import actions


@task()
def close_due_activities_task() -> list[int]:
    return actions.close_due_activities()
