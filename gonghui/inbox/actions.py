"""Writing to members' inboxes. Other domains call ``notify``; broadcasts live here too.

Broadcasts: ``send_broadcast`` (or the notice composer's ``publish_notice``) records the
broadcast and enqueues ``inbox.tasks.deliver_broadcast`` after commit; ``inbox.delivery``
does the batched, resumable work. A worker killed mid-way is found again by
``resume_stale_broadcasts`` (``manage.py resume_broadcasts``, from cron every few
minutes and at worker start).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tasks import TaskResultStatus

from gonghui.core import access, audit, jobs, sms
from gonghui.core.access import Perm
from gonghui.core.errors import Conflict, InvalidValue
from gonghui.inbox import delivery, tasks
from gonghui.inbox import selectors as inbox_selectors
from gonghui.inbox.models import Broadcast, Message, MessageKind
from gonghui.members.models import EmploymentStatus, Member, MemberStatus, NewEmploymentGroup
from gonghui.orgs import actions as org_actions
from gonghui.orgs.models import Notice, Org


def notify(
    member: Member,
    kind: MessageKind | str,
    title: str,
    body: str = "",
    *,
    link: str = "",
    sender: Org | None = None,
    send_sms: bool = False,
) -> Message:
    """Put one message in ``member``'s inbox; with ``send_sms`` also text them after commit.

    SMS is for the important steps only (decisions on applications and transfers): the
    text is sent when the surrounding transaction commits, so a rolled-back decision
    never reaches the member's phone.
    """
    message = Message.objects.create(member=member, kind=kind, title=title, body=body, link=link, sender=sender)
    if send_sms and member.mobile and not member.erased_at:
        mobile, text = member.mobile, f"【工会】{title}"
        transaction.on_commit(lambda: sms.send_sms(mobile, text, purpose=f"notify.{kind}"))
    return message


def notify_user(
    user: Any, kind: MessageKind | str, title: str, body: str = "", *, link: str = "", send_sms: bool = False
) -> Message:
    """A message to an account that has no member record yet (an applicant)."""
    message = Message.objects.create(user=user, kind=kind, title=title, body=body, link=link)
    mobile = getattr(user, "mobile", "")
    if send_sms and mobile:
        text = f"【工会】{title}"
        transaction.on_commit(lambda: sms.send_sms(mobile, text, purpose=f"notify.{kind}"))
    return message


# --- reading ----------------------------------------------------------------------------
# Marking a message read is the member's own bookkeeping, not a change to union data: it
# is not audited (a million members reading a broadcast would bury the audit log).


def mark_read(*, user: Any, message: Message) -> Message:
    """Mark one of ``user``'s messages read (a no-op when it already is). The caller has
    looked the message up through ``inbox.selectors.inbox_for``."""
    if message.read_at is None:
        now = timezone.now()
        if Message.objects.filter(pk=message.pk, read_at__isnull=True).update(read_at=now):
            message.read_at = now
        else:
            message.refresh_from_db(fields=["read_at"])
    return message


def mark_all_read(*, user: Any, member: Member | None) -> int:
    """全部已读: every unread message of the member record and of the account."""
    return inbox_selectors.unread(user, member).update(read_at=timezone.now())


# --- broadcasts -------------------------------------------------------------------------

FILTER_CHOICES: dict[str, set[str]] = {
    "status": {MemberStatus.ACTIVE.value, MemberStatus.RETAINED.value},
    "employment_status": {c.value for c in EmploymentStatus},
    "new_employment_group": {c.value for c in NewEmploymentGroup},
}
TITLE_MAX = 200
BODY_MAX = 5000


def clean_filters(org: Org, filters: dict[str, Any] | None) -> tuple[dict[str, Any], Org]:
    """Validated filters and the org whose subtree receives the broadcast.

    ``org_id`` narrows to one union inside ``org``'s subtree (a sub-union); the list
    filters keep members whose field is one of the values; empty means "any".
    """
    filters = dict(filters or {})
    unknown = set(filters) - {"org_id", *FILTER_CHOICES}
    if unknown:
        raise InvalidValue("BROADCAST_BAD_FILTER", f"不支持的筛选条件：{'、'.join(sorted(unknown))}。")
    cleaned: dict[str, Any] = {}
    audience = org
    raw_org = filters.get("org_id")
    if raw_org not in (None, "", org.pk):
        try:
            sub_id = int(raw_org)
        except (TypeError, ValueError) as exc:
            raise InvalidValue("BROADCAST_BAD_FILTER", "下级工会的编号无效。") from exc
        sub = Org.objects.filter(pk=sub_id).first()
        if sub is None or not sub.path.startswith(org.path):
            raise InvalidValue("BROADCAST_ORG_OUTSIDE", f"所选工会不在{org.name}的下级范围内。")
        if not sub.is_active:
            raise InvalidValue("BROADCAST_ORG_CLOSED", f"{sub.name} 已撤销。")
        if sub.pk != org.pk:
            cleaned["org_id"] = sub.pk
            audience = sub
    for key, allowed in FILTER_CHOICES.items():
        values = filters.get(key) or []
        if isinstance(values, str):
            values = [values]
        if not isinstance(values, list | tuple) or not set(map(str, values)) <= allowed:
            raise InvalidValue("BROADCAST_BAD_FILTER", f"筛选条件 {key} 的取值无效。")
        if values:
            cleaned[key] = sorted(set(map(str, values)))
    return cleaned, audience


def count_recipients(org: Org, filters: dict[str, Any] | None) -> int:
    """How many members a broadcast from ``org`` with ``filters`` would reach now."""
    cleaned, audience = clean_filters(org, filters)
    return delivery.recipients(audience.path, cleaned).count()


def _check_text(title: str, body: str) -> tuple[str, str]:
    title, body = (title or "").strip(), (body or "").strip()
    if not title or not body:
        raise InvalidValue("BROADCAST_TEXT_REQUIRED", "标题和正文都不能为空。")
    if len(title) > TITLE_MAX:
        raise InvalidValue("BROADCAST_TITLE_TOO_LONG", f"标题不能超过 {TITLE_MAX} 个字。")
    if len(body) > BODY_MAX:
        raise InvalidValue("BROADCAST_BODY_TOO_LONG", f"正文不能超过 {BODY_MAX} 个字。")
    return title, body


@transaction.atomic
def send_broadcast(
    actor: Any,
    org: Org,
    title: str,
    body: str,
    filters: dict[str, Any] | None,
    send_sms: bool = False,
    notice: Notice | None = None,
) -> Broadcast:
    """Send a message to the members of ``org``'s subtree (narrowed by ``filters``).

    The actor needs ``org.change`` on ``org`` (404 otherwise, as everywhere). Counts the
    recipients, records the broadcast and enqueues its delivery after commit; delivery
    runs in the background in batches (``inbox.delivery``) and never sends twice.
    """
    access.require(actor, Perm.ORG_CHANGE, org.path)
    if not org.is_active:
        raise InvalidValue("ORG_CLOSED", f"{org.name} 已撤销，不能发送消息。")
    title, body = _check_text(title, body)
    cleaned, audience = clean_filters(org, filters)
    total = delivery.recipients(audience.path, cleaned).count()
    if total == 0:
        raise InvalidValue("BROADCAST_NO_RECIPIENTS", "没有符合条件的会员，请调整发送范围。")
    broadcast = Broadcast.objects.create(
        org=org,
        org_path=org.path,
        notice=notice,
        title=title,
        body=body,
        filters=cleaned,
        send_sms=send_sms,
        total=total,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    audit.record(
        "broadcast.send",
        actor=actor,
        obj=broadcast,
        org=org,
        details={"total": total, "filters": cleaned, "send_sms": send_sms, "notice_id": notice.pk if notice else None},
    )
    broadcast_id = broadcast.pk
    transaction.on_commit(lambda: enqueue_delivery(broadcast_id))
    return broadcast


def enqueue_delivery(broadcast_id: int) -> None:
    """Queue the delivery task and remember its id (for ``resume_stale_broadcasts``)."""
    result = tasks.deliver_broadcast.enqueue(broadcast_id)
    Broadcast.objects.filter(pk=broadcast_id).update(task_id=str(result.id)[:64])


@transaction.atomic
def publish_notice(
    *,
    actor: Any,
    org: Org,
    title: str,
    body: str,
    publish: bool = True,
    push: bool = True,
    filters: dict[str, Any] | None = None,
    send_sms: bool = False,
) -> tuple[Notice | None, Broadcast | None]:
    """The notice composer: publish on the union's home page (``orgs.actions.publish_notice``)
    and/or 同时推送到会员消息中心 (a broadcast linked to the notice). One transaction:
    a push that fails (no recipients) publishes nothing either."""
    access.require(actor, Perm.ORG_CHANGE, org.path)
    if not publish and not push:
        raise InvalidValue("NOTICE_NO_CHANNEL", "请至少选择一种发布方式。")
    title, body = _check_text(title, body)
    notice = org_actions.publish_notice(actor=actor, org=org, title=title, body=body) if publish else None
    broadcast = send_broadcast(actor, org, title, body, filters, send_sms=send_sms, notice=notice) if push else None
    return notice, broadcast


def stale_after() -> timedelta:
    return timedelta(seconds=settings.BROADCAST_STALE_SECONDS)


def _task_waiting(broadcast: Broadcast) -> bool:
    """Is the broadcast's task still waiting in the queue (not yet picked up)?"""
    if not broadcast.task_id:
        return False
    try:
        result = tasks.deliver_broadcast.get_result(broadcast.task_id)
    except Exception:  # the backend keeps no results, or the row is gone
        return False
    return bool(result.status == TaskResultStatus.READY)


def is_stale(broadcast: Broadcast, now: datetime | None = None) -> bool:
    """Open, its worker silent for longer than ``BROADCAST_STALE_SECONDS``, not queued."""
    return jobs.is_stale(broadcast, stale_after(), now, open_=delivery.OPEN_STATUSES) and not _task_waiting(broadcast)


def resume_stale_broadcasts(now: datetime | None = None) -> list[int]:
    """Re-enqueue every open broadcast whose worker died (``manage.py resume_broadcasts``).

    Run it from cron every few minutes and when workers start. Re-enqueueing a broadcast
    whose worker is in fact alive is harmless: the two serialise on the row lock and the
    cursor, so nothing is delivered twice.
    """
    return jobs.sweep_stale(
        Broadcast.objects.filter(status__in=delivery.OPEN_STATUSES),
        after=stale_after(),
        audit_action="broadcast.resume",
        actor_label="resume_broadcasts",
        details=lambda broadcast: {"cursor": broadcast.cursor, "sent": broadcast.sent},
        enqueue=lambda broadcast: enqueue_delivery(broadcast.pk),
        extra_stale=lambda broadcast: not _task_waiting(broadcast),
        now=now,
    )


def resume_broadcast(*, actor: Any, broadcast: Broadcast) -> Broadcast:
    """继续发送: a cadre restarts a broadcast whose worker has gone quiet."""
    return jobs.resume_by_cadre(
        actor,
        broadcast,
        perm=Perm.ORG_CHANGE,
        stale=is_stale,
        refuse=Conflict("BROADCAST_NOT_STALE", "该消息正在发送或已经完成，无需继续发送。"),
        audit_action="broadcast.resume",
        details=lambda locked: {"cursor": locked.cursor},
        enqueue=lambda locked: enqueue_delivery(locked.pk),
    )
