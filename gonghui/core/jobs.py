"""Resumable background jobs: finding the ones whose worker went quiet and restarting them.

A resumable job is a row with a ``status``, a ``heartbeat_at`` its worker bumps after each
committed chunk, a ``created_at``, an ``org``/``org_path`` it belongs to and a cursor the
worker resumes from. It is *stale* when it is still open (queued or running) and nothing
has been heard from its worker — ``heartbeat_at``, or ``created_at`` before the first
beat — for longer than the domain's stale interval.

Two ways bring a stale job back, and both do the same three things in one transaction:
bump ``heartbeat_at`` (so the next sweep leaves the job alone while the new worker
starts), write an audit event, and enqueue the job's task after commit.

- ``sweep_stale``: the housekeeping command (cron, worker start) over every open job.
  The heartbeat is bumped with a conditional update, so two sweeps racing each other
  pick a job up once.
- ``resume_by_cadre``: a cadre's 继续 button on one job; refused with the domain's
  ``Conflict`` unless the job is stale.

Re-enqueueing a job whose worker was in fact only slow is harmless: every domain's
worker serialises on the job row and its cursor. Core imports no domain: each domain
passes its own queryset, stale interval, audit action and task.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from gonghui.core import access, audit
from gonghui.core.access import Perm
from gonghui.core.errors import Conflict

J = TypeVar("J", bound=models.Model)

Details = Callable[[J], dict[str, Any]]
Enqueue = Callable[[J], object]


def last_beat(job: Any) -> datetime:
    """When the job's worker was last heard from (its creation, before the first beat)."""
    beat: datetime | None = job.heartbeat_at
    created: datetime = job.created_at
    return beat or created


def is_stale(job: Any, after: timedelta, now: datetime | None = None, *, open_: Collection[str]) -> bool:
    """Is ``job`` open (its status in ``open_``) and silent for longer than ``after``?"""
    if job.status not in open_:
        return False
    now = now or timezone.now()
    return last_beat(job) < now - after


def silent_since(cutoff: datetime) -> Q:
    """The SQL form of "last heard from before ``cutoff``" (``is_stale`` without the status)."""
    return Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff)


def sweep_stale(
    queryset: models.QuerySet[J],
    *,
    after: timedelta,
    audit_action: str,
    actor_label: str,
    details: Details[J],
    enqueue: Enqueue[J],
    extra_stale: Callable[[J], bool] | None = None,
    touch: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> list[int]:
    """Resume every stale job of ``queryset`` (the domain's open jobs), in pk order.

    For each job silent for longer than ``after`` (and for which ``extra_stale``, when
    given, also holds): one transaction bumps ``heartbeat_at`` to ``now`` (and sets the
    ``touch`` fields), records ``audit_action`` by ``actor_label`` with ``details(job)``,
    and enqueues ``enqueue(job)`` on commit. The bump only happens if the row is still in
    ``queryset`` with the heartbeat the sweep read, so a concurrent sweep (or a worker that
    just beat) makes this one skip the job. Returns the ids of the resumed jobs.
    """
    now = now or timezone.now()
    resumed: list[int] = []
    for job in queryset.filter(silent_since(now - after)).order_by("pk"):
        if extra_stale is not None and not extra_stale(job):
            continue
        with transaction.atomic():
            claimed = (
                queryset.filter(pk=job.pk, heartbeat_at=getattr(job, "heartbeat_at", None))
                .order_by()
                .update(heartbeat_at=now, **(touch or {}))
            )
            if not claimed:
                continue
            audit.record(audit_action, obj=job, actor_label=actor_label, details=details(job))
            transaction.on_commit(partial(enqueue, job))
        resumed.append(job.pk)
    return resumed


def resume_by_cadre(
    actor: Any,
    job: J,
    *,
    perm: Perm,
    stale: Callable[[J], bool],
    refuse: Conflict,
    audit_action: str,
    details: Details[J],
    enqueue: Enqueue[J],
    touch: Mapping[str, Any] | None = None,
) -> J:
    """A cadre's 继续: restart one job whose worker went quiet.

    404 unless ``actor`` holds ``perm`` over the job's org; then the row is locked and,
    unless ``stale(locked)``, ``refuse`` is raised. Otherwise ``heartbeat_at`` is bumped
    (with the ``touch`` fields), ``audit_action`` recorded with ``details(locked)`` and
    ``enqueue(locked)`` run on commit. Returns the locked, updated row.
    """
    path_field: str = getattr(type(job), "scope_path_field", "org_path")
    access.require(actor, perm, getattr(job, path_field))
    with transaction.atomic():
        locked = type(job)._default_manager.select_for_update().get(pk=job.pk)
        if not stale(locked):
            raise refuse
        fields = {"heartbeat_at": timezone.now(), **(touch or {})}
        for name, value in fields.items():
            setattr(locked, name, value)
        locked.save(update_fields=list(fields))
        audit.record(audit_action, actor=actor, obj=locked, details=details(locked))
        transaction.on_commit(partial(enqueue, locked))
    return locked
