"""Background work of the message centre (django-tasks; ``manage.py db_worker`` runs it)."""

from __future__ import annotations

from django_tasks import task

from gonghui.inbox import delivery


@task()
def deliver_broadcast(broadcast_id: int) -> None:
    """Deliver (or resume) one broadcast in batches; see ``inbox.delivery``."""
    delivery.deliver(broadcast_id)
