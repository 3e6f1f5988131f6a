"""Real-name verification (实名核验): the provider interface, the sandbox, the actions, batches.

A provider is a small class with one method, ``check``; which one runs is the setting
``REALNAME_PROVIDER`` (a dotted path). A real adapter (a carrier three-factor service,
the public-security two-factor service) subclasses ``RealNameProvider``; every provider
must pass the contract suite in ``members/tests/test_verification.py``.

Verifying a member (``verify_member``) is three steps, so that no database lock is held
while the provider is on the wire: (1) a short transaction records a pending
``Verification`` and marks the member 核验中; (2) the provider is called, transient
failures and rate limiting retried with backoff; (3) a short transaction records the
outcome, moves the member's status and — for a batch — advances the batch's cursor in
the same commit. A process killed between (1) and (3) leaves a pending attempt that the
next run of the batch closes as interrupted before it checks that member again.

``start_batch`` checks a union's unverified members in a background task
(``run_batch_task``): throttled to ``REALNAME_BATCH_RATE_PER_SECOND``, in member-id
order with a cursor and a heartbeat, so a killed worker's batch is resumed
(``resume_stale_batches``) from the first member it had not finished.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string
from django_tasks import task

from gonghui.core import access, audit, jobs
from gonghui.core.access import Perm
from gonghui.core.errors import Conflict, InvalidValue
from gonghui.members import signals
from gonghui.members.models import (
    JobStatus,
    Member,
    MemberStatus,
    Verification,
    VerificationBatch,
    VerificationMethod,
    VerificationOutcome,
    VerificationStatus,
)
from gonghui.orgs.models import Org

log = logging.getLogger("gonghui.realname")

OUTCOMES = {"match", "mismatch", "not_found", "error"}


@dataclass(frozen=True)
class ProviderResult:
    """``outcome``: match | mismatch | not_found | error. ``ref`` is the provider's
    reference for the check (non-empty unless error); ``error_code`` explains an error."""

    outcome: str
    ref: str = ""
    error_code: str = ""


class ProviderUnavailable(Exception):
    """A transient failure (timeout, 5xx): the same call may succeed when retried."""

    error_code = "PROVIDER_UNAVAILABLE"


class RateLimited(ProviderUnavailable):
    """The provider's rate limit is reached; retry after ``retry_after`` seconds."""

    error_code = "RATE_LIMITED"

    def __init__(self, retry_after: float = 1.0) -> None:
        super().__init__(f"rate limited, retry after {retry_after:.2f}s")
        self.retry_after = retry_after


class RealNameProvider:
    """The adapter contract.

    ``check`` returns a ``ProviderResult`` whose outcome is one of ``OUTCOMES``; the
    same input gives the same final outcome; it raises only ``ProviderUnavailable``
    (or its subclass ``RateLimited``) for failures worth retrying. ``method`` is the
    ``VerificationMethod`` the provider performs.
    """

    name = "abstract"
    method: str = VerificationMethod.ID_2

    def check(self, name: str, id_number: str, mobile: str | None = None) -> ProviderResult:
        raise NotImplementedError


def _window_counter(key: str, window: int) -> int:
    """Increment a counter shared by every process using the cache; expires with the window."""
    cache.add(key, 0, timeout=window + 1)
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=window + 1)
        return 1


class SandboxRealNameProvider(RealNameProvider):
    """A verification service double with real behaviour.

    - Latency: ``REALNAME_SANDBOX_LATENCY_MS`` per call.
    - Rate limit: ``REALNAME_SANDBOX_RATE_PER_SECOND`` calls per second across all
      processes sharing the cache; beyond it ``RateLimited``.
    - Transient failures: ``REALNAME_SANDBOX_TRANSIENT_PER_MILLE`` of calls raise
      ``ProviderUnavailable``; which ones is derived from the input and how often it has
      been asked, so a test run is deterministic.
    - Outcomes from a keyed hash of name + ID number: 85 % match, 10 % mismatch, 5 %
      not found. Names containing 测试错 give an error, 测试不符 a mismatch, 测试查无
      not found (for demos and tests).
    """

    name = "sandbox"
    method = VerificationMethod.ID_2

    def _digest(self, *parts: str) -> int:
        key = (settings.PII_BLIND_INDEX_KEY or settings.SECRET_KEY or "sandbox").encode()
        mac = hmac.new(key, "|".join(("realname-sandbox", *parts)).encode(), hashlib.sha256)
        return int.from_bytes(mac.digest()[:8], "big")

    def check(self, name: str, id_number: str, mobile: str | None = None) -> ProviderResult:
        latency = settings.REALNAME_SANDBOX_LATENCY_MS
        if latency:
            time.sleep(latency / 1000)
        now = time.time()
        second = int(now)
        used = _window_counter(f"realname:sandbox:rate:{second}", 1)
        if used > settings.REALNAME_SANDBOX_RATE_PER_SECOND:
            raise RateLimited(retry_after=max(0.01, second + 1 - now))
        per_mille = settings.REALNAME_SANDBOX_TRANSIENT_PER_MILLE
        if per_mille:
            subject = self._digest(name, id_number)
            attempt = _window_counter(f"realname:sandbox:attempt:{subject}", 3600)
            if self._digest(name, id_number, str(attempt)) % 1000 < per_mille:
                raise ProviderUnavailable("sandbox transient failure")
        subject_hash = self._digest(name, id_number)
        ref = f"sbx-{subject_hash % 16**12:012x}"
        if "测试错" in name:
            return ProviderResult("error", error_code="SOURCE_ERROR")
        if "测试不符" in name:
            return ProviderResult("mismatch", ref=ref)
        if "测试查无" in name:
            return ProviderResult("not_found", ref=ref)
        bucket = subject_hash % 100
        if bucket < 85:
            return ProviderResult("match", ref=ref)
        if bucket < 95:
            return ProviderResult("mismatch", ref=ref)
        return ProviderResult("not_found", ref=ref)


@lru_cache(maxsize=4)
def _provider(path: str) -> RealNameProvider:
    provider: RealNameProvider = import_string(path)()
    return provider


def provider() -> RealNameProvider:
    return _provider(settings.REALNAME_PROVIDER)


# Seams for tests: sleeping and the clock of the backoff.
sleep: Callable[[float], None] = time.sleep

MAX_TRANSIENT_RETRIES = 3
BACKOFF_BASE_SECONDS = 0.5
# How long one call waits in total for the provider's rate limit before giving up.
MAX_RATE_WAIT_SECONDS = 30.0


def call_provider(prov: RealNameProvider, name: str, id_number: str, mobile: str | None) -> ProviderResult:
    """Call the provider, retrying transient failures with exponential backoff and waiting
    out rate limiting; an unrecoverable failure becomes an ``error`` result."""
    failures = 0
    waited = 0.0
    while True:
        try:
            result = prov.check(name, id_number, mobile)
        except RateLimited as exc:
            if waited >= MAX_RATE_WAIT_SECONDS:
                return ProviderResult("error", error_code=RateLimited.error_code)
            waited += exc.retry_after
            sleep(exc.retry_after)
            continue
        except ProviderUnavailable:
            failures += 1
            if failures > MAX_TRANSIENT_RETRIES:
                return ProviderResult("error", error_code=ProviderUnavailable.error_code)
            sleep(BACKOFF_BASE_SECONDS * 2 ** (failures - 1))
            continue
        except Exception:
            log.exception("real-name provider %s failed", prov.name)
            return ProviderResult("error", error_code="PROVIDER_ERROR")
        if result.outcome not in OUTCOMES:
            return ProviderResult("error", error_code="PROVIDER_BAD_OUTCOME")
        return result


def is_verified(member: Member) -> bool:
    """Has this member passed real-name verification (by a provider or a cadre)?"""
    return member.verification_status == VerificationStatus.VERIFIED


_STATUS_AFTER = {
    "match": VerificationStatus.VERIFIED,
    "mismatch": VerificationStatus.FAILED,
    "not_found": VerificationStatus.FAILED,
}


def _check_verifiable(member: Member) -> None:
    if member.erased_at is not None:
        raise InvalidValue("MEMBER_ERASED", "该会员的个人信息已删除，无法核验。")
    if member.status == MemberStatus.LEFT:
        raise InvalidValue("MEMBER_LEFT", "该会员已退会，无需核验。")


def _begin(actor: Any, member: Member, method: str, prov: RealNameProvider, batch_id: int | None) -> Verification:
    """Step 1: the pending attempt. Returns it; the member is 核验中."""
    with transaction.atomic():
        locked = Member.objects.select_for_update().get(pk=member.pk)
        _check_verifiable(locked)
        if locked.verification_status == VerificationStatus.VERIFIED:
            raise Conflict("MEMBER_ALREADY_VERIFIED", "该会员已通过实名核验。")
        attempt = Verification.objects.create(
            member=locked,
            method=method,
            provider=prov.name,
            batch_id=batch_id,
            requested_by=actor if getattr(actor, "pk", None) else None,
            # The status to fall back to if the provider errors, kept on the attempt.
            note=f"prev:{locked.verification_status}",
        )
        Member.objects.filter(pk=locked.pk).update(verification_status=VerificationStatus.PENDING)
    return attempt


def _finish(
    actor: Any, member: Member, attempt: Verification, result: ProviderResult, batch_id: int | None
) -> Verification:
    """Step 3: record the outcome, move the member's status, advance the batch cursor."""
    now = timezone.now()
    with transaction.atomic():
        locked = Member.objects.select_for_update().select_related("org").get(pk=member.pk)
        previous = attempt.note.removeprefix("prev:") or VerificationStatus.UNVERIFIED
        status = _STATUS_AFTER.get(result.outcome, previous)
        if status == VerificationStatus.PENDING:
            status = VerificationStatus.UNVERIFIED
        attempt.outcome = result.outcome
        attempt.provider_ref = result.ref[:100]
        attempt.error_code = result.error_code[:40]
        attempt.completed_at = now
        attempt.note = ""
        attempt.save(update_fields=["outcome", "provider_ref", "error_code", "completed_at", "note"])
        locked.verification_status = status
        update = ["verification_status", "updated_at"]
        if status == VerificationStatus.VERIFIED:
            locked.verified_at = now
            update.append("verified_at")
            _announce_verified(locked.pk)
        locked.save(update_fields=update)
        audit.record(
            "member.verify",
            actor=actor,
            obj=locked,
            actor_label="" if getattr(actor, "pk", None) else "实名核验批次",
            details={
                "method": attempt.method,
                "provider": attempt.provider,
                "outcome": result.outcome,
                "error_code": result.error_code,
                "batch_id": batch_id,
            },
        )
        if batch_id is not None:
            _advance_batch(batch_id, locked.pk, result.outcome, now)
    member.verification_status, member.verified_at = locked.verification_status, locked.verified_at
    return attempt


def _announce_verified(member_id: int) -> None:
    transaction.on_commit(lambda: signals.member_verified.send(sender=Member, member_id=member_id))


def verify_member(
    actor: Any, member: Member, method: str | None = None, *, batch_id: int | None = None
) -> Verification:
    """实名核验 one member through the configured provider; returns the attempt.

    ``actor`` needs ``member.change`` over the member (404 otherwise); a batch passes
    ``actor=None`` (its creator's permission was checked when it started).
    """
    if actor is not None:
        access.require(actor, Perm.MEMBER_CHANGE, member.org_path)
    prov = provider()
    method = method or prov.method
    if method == VerificationMethod.MANUAL:
        raise InvalidValue("VERIFY_METHOD_MANUAL", "人工审核请使用“人工审核”。")
    attempt = _begin(actor, member, method, prov, batch_id)
    id_number = member.reveal_id_number()
    result = call_provider(prov, member.name, id_number, member.mobile or None)
    return _finish(actor, member, attempt, result, batch_id)


@transaction.atomic
def manual_review(actor: Any, member: Member, approve: bool, note: str) -> Verification:
    """人工审核: a cadre confirms (or rejects) the identity from documents seen in person —
    the fallback when the provider cannot decide."""
    access.require(actor, Perm.MEMBER_CHANGE, member.org_path)
    note = (note or "").strip()
    if not note:
        raise InvalidValue("VERIFY_NOTE_REQUIRED", "请填写审核说明（例如核对了哪些证件）。")
    locked = Member.objects.select_for_update().select_related("org").get(pk=member.pk)
    _check_verifiable(locked)
    now = timezone.now()
    outcome = VerificationOutcome.MATCH if approve else VerificationOutcome.MISMATCH
    attempt = Verification.objects.create(
        member=locked,
        method=VerificationMethod.MANUAL,
        outcome=outcome,
        provider="manual",
        note=note[:300],
        requested_by=actor,
        completed_at=now,
    )
    locked.verification_status = VerificationStatus.VERIFIED if approve else VerificationStatus.FAILED
    update = ["verification_status", "updated_at"]
    if approve:
        locked.verified_at = now
        update.append("verified_at")
        _announce_verified(locked.pk)
    locked.save(update_fields=update)
    audit.record("member.verify_manual", actor=actor, obj=locked, details={"approve": approve, "note": note[:300]})
    member.verification_status, member.verified_at = locked.verification_status, locked.verified_at
    return attempt


def history(member: Member) -> list[Verification]:
    return list(member.verifications.select_related("requested_by").order_by("-created_at", "-id")[:50])


# --- batches -----------------------------------------------------------------------

BATCH_STATUSES_OPEN = (JobStatus.QUEUED, JobStatus.RUNNING)
TO_CHECK = (VerificationStatus.UNVERIFIED, VerificationStatus.PENDING)
MEMBER_IDS_KEY = "member_ids"  # an explicit member list (e.g. one import's members)


def stale_after() -> timedelta:
    return timedelta(seconds=settings.REALNAME_BATCH_STALE_SECONDS)


def batch_members(batch: VerificationBatch) -> Any:
    """The members a batch still has to check, in id order after its cursor."""
    qs = Member.objects.filter(
        org_path__startswith=batch.org_path,
        verification_status__in=TO_CHECK,
        erased_at__isnull=True,
        pk__gt=batch.cursor,
    ).exclude(status=MemberStatus.LEFT)
    ids = (batch.counts or {}).get(MEMBER_IDS_KEY)
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    return qs.order_by("pk")


def start_batch(actor: Any, org: Org, members: Iterable[Member] | None = None) -> VerificationBatch:
    """批量实名核验 of ``org``'s unverified members (or of ``members`` within it)."""
    access.require(actor, Perm.MEMBER_CHANGE, org.path)
    if not org.is_active:
        raise InvalidValue("ORG_CLOSED", f"{org.name} 已撤销。")
    with transaction.atomic():
        # One open batch per union at a time: two would check the same members.
        Org.objects.select_for_update(no_key=True).filter(pk=org.pk).first()
        if VerificationBatch.objects.filter(org=org, status__in=BATCH_STATUSES_OPEN).exists():
            raise Conflict("VERIFY_BATCH_RUNNING", "该工会已有正在进行的批量核验，请等待完成。")
        counts: dict[str, Any] = {}
        if members is not None:
            ids = sorted({m.pk for m in members if m.org_path.startswith(org.path)})
            counts[MEMBER_IDS_KEY] = ids
        batch = VerificationBatch(org=org, org_path=org.path, created_by=actor, counts=counts)
        batch.total = batch_members(batch).count()
        if batch.total == 0:
            raise InvalidValue("VERIFY_BATCH_EMPTY", "没有待核验的会员。")
        batch.save()
        audit.record("verification_batch.start", actor=actor, obj=batch, org=org, details={"total": batch.total})
        batch_id = batch.pk
        transaction.on_commit(lambda: run_batch_task.enqueue(batch_id))
    return batch


def _claim(batch_id: int, now: datetime) -> bool:
    """Take the batch for this worker: queued, or running with a silent (dead) worker."""
    cutoff = now - stale_after()
    return bool(
        VerificationBatch.objects.filter(pk=batch_id)
        .filter(
            Q(status=JobStatus.QUEUED)
            | Q(status=JobStatus.RUNNING, heartbeat_at__isnull=True)
            | Q(status=JobStatus.RUNNING, heartbeat_at__lt=cutoff)
        )
        .update(status=JobStatus.RUNNING, heartbeat_at=now)
    )


def _advance_batch(batch_id: int, member_id: int, outcome: str, now: datetime) -> None:
    """Inside step 3's transaction: the cursor moves with the member's outcome."""
    batch = VerificationBatch.objects.select_for_update().get(pk=batch_id)
    if member_id <= batch.cursor:  # another worker finished it: nothing to count twice
        return
    counts = dict(batch.counts or {})
    counts[outcome] = int(counts.get(outcome, 0)) + 1
    batch.counts = counts
    batch.cursor = member_id
    batch.done += 1
    batch.heartbeat_at = now
    batch.save(update_fields=["counts", "cursor", "done", "heartbeat_at"])


def _close_interrupted(batch: VerificationBatch) -> None:
    """Attempts a killed worker left pending: close them and put their members back."""
    for attempt in Verification.objects.filter(batch=batch, outcome=VerificationOutcome.PENDING):
        previous = attempt.note.removeprefix("prev:") or VerificationStatus.UNVERIFIED
        with transaction.atomic():
            Verification.objects.filter(pk=attempt.pk, outcome=VerificationOutcome.PENDING).update(
                outcome=VerificationOutcome.ERROR, error_code="INTERRUPTED", completed_at=timezone.now(), note=""
            )
            Member.objects.filter(pk=attempt.member_id, verification_status=VerificationStatus.PENDING).update(
                verification_status=previous
            )


def run_batch(batch_id: int) -> VerificationBatch:
    """Work through a batch (or resume it). Safe to call twice: the second call does
    nothing while the first worker's heartbeat is fresh."""
    now = timezone.now()
    if not _claim(batch_id, now):
        return VerificationBatch.objects.get(pk=batch_id)
    batch = VerificationBatch.objects.get(pk=batch_id)
    _close_interrupted(batch)
    rate = max(1, settings.REALNAME_BATCH_RATE_PER_SECOND)
    interval = 1.0 / rate
    last_call = 0.0
    while True:
        batch.refresh_from_db(fields=["cursor", "status", "counts"])
        if batch.status != JobStatus.RUNNING:
            return batch
        member = batch_members(batch).select_related("org").first()
        if member is None:
            break
        wait = last_call + interval - time.monotonic()
        if wait > 0:
            sleep(wait)
        last_call = time.monotonic()
        try:
            verify_member(None, member, batch_id=batch.pk)
        except (Conflict, InvalidValue) as exc:
            # Verified or left meanwhile: count it as skipped and move on.
            with transaction.atomic():
                _advance_batch(batch.pk, member.pk, "skipped", timezone.now())
            log.info("batch %s skipped member %s: %s", batch.pk, member.pk, exc.code)
    VerificationBatch.objects.filter(pk=batch.pk, status=JobStatus.RUNNING).update(
        status=JobStatus.DONE, finished_at=timezone.now(), heartbeat_at=timezone.now()
    )
    batch.refresh_from_db()
    audit.record(
        "verification_batch.done",
        obj=batch,
        org=batch.org,
        actor_label="实名核验批次",
        details={k: v for k, v in batch.counts.items() if k != MEMBER_IDS_KEY},
    )
    return batch


@task()
def run_batch_task(batch_id: int) -> None:
    run_batch(batch_id)


def is_stale(batch: VerificationBatch, now: datetime | None = None) -> bool:
    return jobs.is_stale(batch, stale_after(), now, open_=BATCH_STATUSES_OPEN)


# A resumed batch goes back to 排队中 with a fresh heartbeat: the fresh heartbeat keeps the
# next sweep off it, and ``_claim`` takes a queued batch (a running one only once its
# heartbeat is stale again, which would leave the re-enqueued task with nothing to do).
_REQUEUE = {"status": JobStatus.QUEUED}


def resume_stale_batches(now: datetime | None = None) -> list[int]:
    """Re-enqueue batches whose worker died (run from cron with the other housekeeping).

    Like the other resumable jobs (``core.jobs.sweep_stale``) each resumed batch gets its
    heartbeat bumped and a ``verification_batch.resume`` audit event, so a second sweep
    within the stale interval leaves it alone; it also goes back to 排队中 for ``_claim``.
    """
    return jobs.sweep_stale(
        VerificationBatch.objects.filter(status__in=BATCH_STATUSES_OPEN),
        after=stale_after(),
        audit_action="verification_batch.resume",
        actor_label="membership_housekeeping",
        details=lambda batch: {"cursor": batch.cursor, "done": batch.done},
        enqueue=lambda batch: run_batch_task.enqueue(batch.pk),
        touch=_REQUEUE,
        now=now,
    )


def resume_batch(actor: Any, batch: VerificationBatch) -> VerificationBatch:
    """继续核验: a cadre restarts a batch whose worker has gone quiet (back to 排队中, as in
    ``resume_stale_batches``)."""
    return jobs.resume_by_cadre(
        actor,
        batch,
        perm=Perm.MEMBER_CHANGE,
        stale=is_stale,
        refuse=Conflict("VERIFY_BATCH_NOT_STALE", "该批次正在进行或已经完成，无需继续。"),
        audit_action="verification_batch.resume",
        details=lambda locked: {"cursor": locked.cursor},
        enqueue=lambda locked: run_batch_task.enqueue(locked.pk),
        touch=_REQUEUE,
    )


def batch_percent(batch: VerificationBatch) -> int:
    return 100 if not batch.total else min(100, batch.done * 100 // batch.total)
