"""Background work for coupons: the bulk welfare issue and expiry."""

from __future__ import annotations

from django_tasks import task

from gonghui.coupons import actions


@task()
def bulk_issue_task(job_id: int) -> None:
    """Run (or resume) one bulk issue; see ``actions.run_bulk_issue``."""
    actions.run_bulk_issue(job_id)


@task()
def expire_coupons_task() -> int:
    return actions.expire_due()
