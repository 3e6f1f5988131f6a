"""Background work for the mall: parcels nobody confirmed count as received after a while."""

from __future__ import annotations

from django_tasks import task

from gonghui.mall import actions


@task()
def auto_receive_task() -> int:
    """Run periodically (e.g. daily); resumable — each order moves by its own conditional UPDATE."""
    return actions.auto_receive()
