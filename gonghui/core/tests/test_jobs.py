"""core.jobs: the one sweep and the one cadre resume every resumable job goes through.

A verification batch stands in for any job: core knows nothing of it beyond ``status``,
``heartbeat_at``, ``created_at``, ``org`` and ``org_path``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from gonghui.conftest import Tree
from gonghui.core import jobs
from gonghui.core.access import Perm
from gonghui.core.errors import Conflict
from gonghui.core.models import AuditEvent, User
from gonghui.members.models import JobStatus, VerificationBatch

AFTER = timedelta(minutes=2)
OPEN = (JobStatus.QUEUED, JobStatus.RUNNING)


def make_batch(tree: Tree, status: str = JobStatus.RUNNING, silent_for: timedelta | None = None) -> VerificationBatch:
    batch = VerificationBatch.objects.create(
        org=tree.tianhe_union, org_path=tree.tianhe_union.path, status=status, cursor=7, done=3
    )
    if silent_for is not None:
        VerificationBatch.objects.filter(pk=batch.pk).update(heartbeat_at=timezone.now() - silent_for)
        batch.refresh_from_db()
    return batch


def open_batches() -> QuerySet[VerificationBatch]:
    return VerificationBatch.objects.filter(status__in=OPEN)


def sweep(enqueued: list[int], **kwargs: Any) -> list[int]:
    return jobs.sweep_stale(
        open_batches(),
        after=AFTER,
        audit_action="test_job.resume",
        actor_label="resume_test_jobs",
        details=lambda b: {"cursor": b.cursor, "done": b.done},
        enqueue=lambda b: enqueued.append(b.pk),
        **kwargs,
    )


def test_is_stale_needs_an_open_job_silent_for_longer_than_the_interval(tree: Tree) -> None:
    now = timezone.now()
    assert jobs.is_stale(make_batch(tree, silent_for=AFTER * 2), AFTER, now, open_=OPEN)
    assert not jobs.is_stale(make_batch(tree, silent_for=AFTER / 2), AFTER, now, open_=OPEN)
    assert not jobs.is_stale(make_batch(tree, JobStatus.DONE, silent_for=AFTER * 2), AFTER, now, open_=OPEN)
    never_beat = make_batch(tree, JobStatus.QUEUED)  # no heartbeat yet: its creation counts
    assert never_beat.heartbeat_at is None
    assert not jobs.is_stale(never_beat, AFTER, now, open_=OPEN)
    assert jobs.is_stale(never_beat, AFTER, now + AFTER * 2, open_=OPEN)


def test_a_stale_job_is_picked_up_once_and_fresh_or_closed_ones_are_not(
    tree: Tree, django_capture_on_commit_callbacks: Any
) -> None:
    stale = make_batch(tree, silent_for=AFTER * 2)
    never_beat = make_batch(tree, JobStatus.QUEUED)
    VerificationBatch.objects.filter(pk=never_beat.pk).update(created_at=timezone.now() - AFTER * 2)
    fresh = make_batch(tree, silent_for=AFTER / 2)
    closed = make_batch(tree, JobStatus.DONE, silent_for=AFTER * 2)
    failed = make_batch(tree, JobStatus.FAILED, silent_for=AFTER * 2)
    enqueued: list[int] = []
    now = timezone.now()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert sweep(enqueued, now=now) == [stale.pk, never_beat.pk]
    assert len(callbacks) == 2 and enqueued == [stale.pk, never_beat.pk]  # enqueued on commit

    stale.refresh_from_db()
    never_beat.refresh_from_db()
    assert stale.heartbeat_at == now and never_beat.heartbeat_at == now
    assert stale.status == JobStatus.RUNNING  # nothing but the heartbeat changes
    event = AuditEvent.objects.get(action="test_job.resume", object_id=str(stale.pk))
    assert event.actor_id is None and event.actor_label == "resume_test_jobs"
    assert event.details == {"cursor": 7, "done": 3}
    assert event.org_path == tree.tianhe_union.path
    for untouched in (fresh, closed, failed):
        before = untouched.heartbeat_at
        untouched.refresh_from_db()
        assert untouched.heartbeat_at == before
        assert not AuditEvent.objects.filter(action="test_job.resume", object_id=str(untouched.pk)).exists()

    # The bumped heartbeat keeps the next sweep off them: each was picked up once.
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep(enqueued) == []
    assert enqueued == [stale.pk, never_beat.pk]
    assert AuditEvent.objects.filter(action="test_job.resume").count() == 2


def test_extra_stale_and_touch(tree: Tree, django_capture_on_commit_callbacks: Any) -> None:
    waiting = make_batch(tree, silent_for=AFTER * 2)
    dead = make_batch(tree, silent_for=AFTER * 2)
    enqueued: list[int] = []
    with django_capture_on_commit_callbacks(execute=True):
        resumed = sweep(enqueued, extra_stale=lambda b: b.pk != waiting.pk, touch={"status": JobStatus.QUEUED})
    assert resumed == enqueued == [dead.pk]
    dead.refresh_from_db()
    waiting.refresh_from_db()
    assert dead.status == JobStatus.QUEUED and waiting.status == JobStatus.RUNNING


def test_a_job_that_beats_or_closes_during_the_sweep_is_left_alone(
    tree: Tree, django_capture_on_commit_callbacks: Any
) -> None:
    """The bump is conditional on the heartbeat the sweep read (and the job still open):
    a racing sweep or a worker that just committed a chunk wins, and nothing is enqueued."""
    beats = make_batch(tree, silent_for=AFTER * 2)
    closes = make_batch(tree, silent_for=AFTER * 2)

    def meanwhile(b: VerificationBatch) -> bool:
        if b.pk == beats.pk:
            VerificationBatch.objects.filter(pk=b.pk).update(heartbeat_at=timezone.now())
        elif b.pk == closes.pk:
            VerificationBatch.objects.filter(pk=b.pk).update(status=JobStatus.DONE)
        return True

    enqueued: list[int] = []
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep(enqueued, extra_stale=meanwhile) == []
    assert enqueued == []
    assert not AuditEvent.objects.filter(action="test_job.resume").exists()
    closes.refresh_from_db()
    assert closes.status == JobStatus.DONE and closes.heartbeat_at is not None
    assert closes.heartbeat_at < timezone.now() - AFTER  # not bumped


def resume(actor: User, batch: VerificationBatch, enqueued: list[int]) -> VerificationBatch:
    return jobs.resume_by_cadre(
        actor,
        batch,
        perm=Perm.MEMBER_CHANGE,
        stale=lambda b: jobs.is_stale(b, AFTER, open_=OPEN),
        refuse=Conflict("TEST_JOB_NOT_STALE", "无需继续。"),
        audit_action="test_job.resume",
        details=lambda b: {"cursor": b.cursor},
        enqueue=lambda b: enqueued.append(b.pk),
        touch={"status": JobStatus.QUEUED},
    )


def test_a_cadre_resumes_a_stale_job(tree: Tree, bob: User, django_capture_on_commit_callbacks: Any) -> None:
    batch = make_batch(tree, silent_for=AFTER * 2)
    enqueued: list[int] = []
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        resumed = resume(bob, batch, enqueued)
    assert enqueued == [batch.pk]
    batch.refresh_from_db()
    assert batch.heartbeat_at is not None and batch.heartbeat_at >= before
    assert batch.status == JobStatus.QUEUED and resumed.status == JobStatus.QUEUED
    event = AuditEvent.objects.get(action="test_job.resume", object_id=str(batch.pk))
    assert event.actor_id == bob.pk and event.details == {"cursor": 7}
    assert event.org_path == tree.tianhe_union.path

    # Now fresh: a second press is refused with the domain's code, and changes nothing.
    with pytest.raises(Conflict) as refused:
        resume(bob, batch, enqueued)
    assert refused.value.code == "TEST_JOB_NOT_STALE"
    assert enqueued == [batch.pk]
    assert AuditEvent.objects.filter(action="test_job.resume").count() == 1


def test_a_closed_job_is_refused(tree: Tree, bob: User) -> None:
    batch = make_batch(tree, JobStatus.DONE, silent_for=AFTER * 2)
    enqueued: list[int] = []
    with pytest.raises(Conflict):
        resume(bob, batch, enqueued)
    assert enqueued == []


def test_another_districts_cadre_gets_404(tree: Tree, charlie: User) -> None:
    batch = make_batch(tree, silent_for=AFTER * 2)
    enqueued: list[int] = []
    with pytest.raises(Http404):
        resume(charlie, batch, enqueued)
    batch.refresh_from_db()
    assert enqueued == [] and batch.status == JobStatus.RUNNING
    assert not AuditEvent.objects.filter(action="test_job.resume").exists()
