"""Background work of the members app (django-tasks; ``manage.py db_worker`` runs it)."""

from __future__ import annotations

from django_tasks import task

from gonghui.core.errors import DomainError
from gonghui.members import importing
from gonghui.members.models import ImportJob


@task()
def run_import_dry_run(job_id: int) -> None:
    """Preview an uploaded member sheet (``members.importing.dry_run``)."""
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is None:
        return
    try:
        importing.dry_run(job)
    except DomainError as exc:
        importing.mark_failed(job, exc)


@task()
def run_import_commit(job_id: int) -> None:
    """Write (or resume writing) a confirmed import (``members.importing.commit``).

    A crash leaves the job RUNNING with an old heartbeat: ``resume_imports`` re-enqueues
    it and the commit goes on after the last committed chunk.
    """
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is None:
        return
    try:
        importing.commit(job)
    except DomainError as exc:
        importing.mark_failed(job, exc)
