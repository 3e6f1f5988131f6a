"""Background work for sign-ups: expiring offers the promoted member did not confirm."""

from __future__ import annotations

from django_tasks import task

from gonghui.activities.kinds.signup import actions


@task()
def expire_signup_offers_task() -> int:
    """Run every few minutes (cron ``manage.py expire_signup_offers`` or the task worker)."""
    return actions.expire_offers()
