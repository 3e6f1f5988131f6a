"""Delivering a broadcast: the worker side, in batches that survive a killed worker.

How a broadcast reaches a million inboxes exactly once:

1. Recipients are walked in member-id order. Each batch is ONE transaction that locks
   the Broadcast row (``select_for_update``), reads ``cursor`` (the last member id
   delivered), selects the next ``batch_size`` recipients above it, bulk-inserts their
   Messages and stores the new ``cursor``/``sent``/``heartbeat_at``. The messages and the
   cursor commit together or not at all, so a worker killed at any instant leaves either
   the whole batch and its cursor, or neither; the next run continues after the cursor.
2. The row lock serialises two workers on the same broadcast (a resumed task and a
   worker that was only slow): each batch re-reads the cursor after taking the lock.
3. The database is the last line: the unique constraint on (broadcast, member) and
   ``ON CONFLICT DO NOTHING`` make re-inserting a batch a no-op (a cursor rewound by hand or by
   a restore from backup), and ``sent`` counts only rows really inserted.

Text messages (``send_sms``) are at-most-once, never twice: a batch's copies for members
with a mobile are inserted as ``sms_state=pending`` inside the batch transaction; after it
commits, each one is *claimed* by a conditional UPDATE (pending → sending, one winner per
row), then handed to the SMS provider, then marked sent or failed. A worker killed between
claim and send loses that one text (it stays ``sending`` and is counted as unknown)
rather than risking a second copy; one killed before claiming leaves ``pending`` rows that
the next run sends first.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.db.models.functions import Coalesce, Left
from django.utils import timezone

from gonghui.core import audit, sms
from gonghui.inbox.models import Broadcast, BroadcastStatus, Message, MessageKind, SmsState
from gonghui.members.models import SUBTREE_PREFIX_LENGTHS, Member, MemberStatus
from gonghui.members.selectors import in_subtree
from gonghui.orgs.models import Org

log = logging.getLogger("gonghui.inbox")

OPEN_STATUSES = (BroadcastStatus.QUEUED, BroadcastStatus.RUNNING)
SMS_CLAIM_CHUNK = 500


def batch_size() -> int:
    return int(settings.BROADCAST_BATCH_SIZE)


def recipients(path: str, filters: dict[str, Any]) -> QuerySet[Member]:
    """Members under ``path`` a broadcast with ``filters`` reaches: not left, not erased.

    ``path`` is the sender's path, or the sub-union's when ``filters["org_id"]`` narrows
    it (``audience_path`` resolves that). The subtree filter goes through
    ``members.selectors.in_subtree`` so the per-level prefix indexes answer it.
    """
    qs = in_subtree(Member.objects.all(), path).exclude(status=MemberStatus.LEFT).filter(erased_at__isnull=True)
    if filters.get("status"):
        qs = qs.filter(status__in=filters["status"])
    if filters.get("employment_status"):
        qs = qs.filter(employment_status__in=filters["employment_status"])
    if filters.get("new_employment_group"):
        qs = qs.filter(new_employment_group__in=filters["new_employment_group"])
    return qs


def in_id_order(qs: QuerySet[Member], path: str) -> QuerySet[Member]:
    """Ascending member id, spelt so PostgreSQL reads the ``(LEFT(org_path, n), id)`` index.

    Under ``in_subtree`` the prefix is constant, so ``(prefix, id)`` order is id order;
    naming the prefix lets the planner walk that index range from the cursor on instead
    of the primary key past every other district's members (see selectors.in_subtree).
    """
    if len(path) in SUBTREE_PREFIX_LENGTHS:
        return qs.alias(_delivery_prefix=Left("org_path", len(path))).order_by("_delivery_prefix", "pk")
    return qs.order_by("pk")


def audience_path(broadcast: Broadcast) -> str:
    """The subtree the broadcast goes to: the sender's, or the chosen sub-union's."""
    org_id = broadcast.filters.get("org_id")
    if org_id and org_id != broadcast.org_id:
        path = Org.objects.filter(pk=org_id).values_list("path", flat=True).first()
        # A sub-union must lie inside the sender's subtree (checked when sending); if it
        # has since been moved out, nobody outside the sender's subtree gets the message.
        if path is not None and path.startswith(broadcast.org_path):
            return str(path)
        return broadcast.org_path + "~"  # no path holds "~": matches nobody
    return broadcast.org_path


def start(broadcast_id: int) -> bool:
    """Mark the broadcast running (first start or resume); False when it is finished."""
    now = timezone.now()
    return bool(
        Broadcast.objects.filter(pk=broadcast_id, status__in=OPEN_STATUSES).update(
            status=BroadcastStatus.RUNNING, started_at=Coalesce(F("started_at"), now), heartbeat_at=now, error=""
        )
    )


def deliver_batch(broadcast_id: int, size: int, path: str | None = None) -> bool:
    """Deliver the next batch in one transaction; False once there was nothing left
    (the broadcast is then marked done) or it is no longer open.

    ``path`` is ``audience_path`` computed once per run by the caller (it is re-derived
    when omitted).
    """
    with transaction.atomic():
        broadcast = Broadcast.objects.select_for_update().get(pk=broadcast_id)
        if broadcast.status not in OPEN_STATUSES:
            return False
        path = path if path is not None else audience_path(broadcast)
        ids = list(
            in_id_order(recipients(path, broadcast.filters), path)
            .filter(pk__gt=broadcast.cursor)
            .values_list("pk", flat=True)[:size]
        )
        now = timezone.now()
        if not ids:
            broadcast.status = BroadcastStatus.DONE
            broadcast.finished_at = now
            broadcast.heartbeat_at = now
            broadcast.save(update_fields=["status", "finished_at", "heartbeat_at"])
            audit.record(
                "broadcast.done",
                obj=broadcast,
                org=broadcast.org,
                actor_label="消息群发任务",
                details={"sent": broadcast.sent, "total": broadcast.total},
            )
            return False
        insert_copies(broadcast, path, ids[-1], now)
        return True


def insert_copies(broadcast: Broadcast, path: str, last: int, now: datetime) -> int:
    """Insert the copies for the recipients with ids in (cursor, last] and advance the
    cursor. Call inside the batch transaction that holds the broadcast's row lock.

    One ``INSERT … SELECT`` in the database (no Python object per row: ~4× the rate of
    ``bulk_create``, see docs/PERFORMANCE.md); ``ON CONFLICT DO NOTHING`` against the
    unique (broadcast, member) constraint skips a copy that already exists, and the row
    count says how many were really added. Returns that count.
    """
    source = recipients(path, broadcast.filters).filter(pk__gt=broadcast.cursor, pk__lte=last)
    source_sql, source_params = source.values(rid=F("pk"), rmobile=F("mobile")).query.sql_with_params()
    sms_state = "CASE WHEN r.rmobile <> '' THEN %s ELSE '' END" if broadcast.send_sms else "%s"
    table = Message._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table}
                (member_id, user_id, kind, title, body, link, sender_id, broadcast_id, created_at, read_at, sms_state)
            SELECT r.rid, NULL, %s, %s, '', '', %s, %s, %s, NULL, {sms_state}
            FROM ({source_sql}) AS r
            WHERE TRUE
            ON CONFLICT (broadcast_id, member_id) DO NOTHING
            """,  # noqa: S608 - table name and compiled ORM SQL only; values are parameters
            [
                MessageKind.NOTICE,
                broadcast.title,
                broadcast.org_id,
                broadcast.pk,
                now,
                SmsState.PENDING if broadcast.send_sms else SmsState.NONE,
                *source_params,
            ],
        )
        inserted = max(int(cursor.rowcount), 0)
    broadcast.cursor = last
    broadcast.sent = F("sent") + inserted
    broadcast.heartbeat_at = now
    broadcast.save(update_fields=["cursor", "sent", "heartbeat_at"])
    return inserted


def sms_text(broadcast: Broadcast) -> str:
    return f"【工会】{broadcast.title}（详见会员消息中心）"[:140]


def send_pending_sms(broadcast_id: int) -> tuple[int, int]:
    """Text every copy still ``pending``; returns (sent, failed). Safe to run concurrently.

    Each row is claimed by a conditional UPDATE before its text goes out, so two workers
    never both send it; see the module docstring for why a crash loses rather than repeats.
    """
    broadcast = Broadcast.objects.get(pk=broadcast_id)
    text = sms_text(broadcast)
    total_sent = total_failed = 0
    while True:
        pending = list(
            Message.objects.filter(broadcast_id=broadcast_id, sms_state=SmsState.PENDING)
            .order_by("member_id")
            .values_list("pk", "member__mobile")[:SMS_CLAIM_CHUNK]
        )
        if not pending:
            return total_sent, total_failed
        sent_ids: list[int] = []
        failed_ids: list[int] = []
        for pk, mobile in pending:
            claimed = Message.objects.filter(pk=pk, sms_state=SmsState.PENDING).update(sms_state=SmsState.SENDING)
            if not claimed:
                continue  # another worker has it
            if not mobile:  # erased or cleared since the batch: nothing to send
                failed_ids.append(pk)
                continue
            outcome = sms.send_sms(mobile, text, purpose="broadcast")
            (sent_ids if outcome.status == outcome.Status.SENT else failed_ids).append(pk)
        _mark(sent_ids, SmsState.SENT)
        _mark(failed_ids, SmsState.FAILED)
        Broadcast.objects.filter(pk=broadcast_id).update(
            sms_sent=F("sms_sent") + len(sent_ids),
            sms_failed=F("sms_failed") + len(failed_ids),
            heartbeat_at=timezone.now(),
        )
        total_sent += len(sent_ids)
        total_failed += len(failed_ids)


def _mark(ids: Iterable[int], state: str) -> None:
    ids = list(ids)
    if ids:
        Message.objects.filter(pk__in=ids, sms_state=SmsState.SENDING).update(sms_state=state)


def deliver(broadcast_id: int, *, size: int | None = None) -> None:
    """Run (or resume) a broadcast to the end. The body of the django-tasks task."""
    size = size or batch_size()
    if not start(broadcast_id):
        return
    broadcast = Broadcast.objects.get(pk=broadcast_id)
    path = audience_path(broadcast)
    try:
        if broadcast.send_sms:
            send_pending_sms(broadcast_id)  # texts a killed run committed but never sent
        while deliver_batch(broadcast_id, size, path):
            if broadcast.send_sms:
                send_pending_sms(broadcast_id)
    except Exception as exc:
        # Stays RUNNING: resume_broadcasts picks it up again once the heartbeat is stale.
        log.exception("broadcast %s failed at a batch", broadcast_id)
        Broadcast.objects.filter(pk=broadcast_id).update(error=f"{type(exc).__name__}: {exc}"[:500])
        raise
