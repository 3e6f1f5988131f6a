"""Transfer (转会): membership follows the job — "一次入会、动态接转".

A transfer is requested by the member (new job) or by a cadre of either union; the
outgoing union releases it, the receiving union accepts or declines with a reason. When
the outgoing union lets it lie past ``settings.TRANSFER_RELEASE_DAYS`` it escalates to
the lowest union above both sides (their common parent), whose cadres are told and may
release it themselves. With no receiving union the membership goes to the street or
district union of the member's residence and waits there (``to_residence``); accepting
works the same.

Accepting moves the one Member row: same join date, same card number, one continuous
membership whose history (``MembershipEvent`` TRANSFERRED, from → to) names every union.

Locking: every step locks the member row first and then the transfer row, always in that
order, and re-reads the state after locking; the partial unique constraint
``transfer_one_open_per_member`` is the last line against two open requests.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from gonghui.core import access, audit
from gonghui.core.access import Perm, RoleKind, can
from gonghui.core.errors import Conflict, InvalidValue
from gonghui.inbox import actions as inbox
from gonghui.inbox.models import MessageKind
from gonghui.members.history import record_event
from gonghui.members.models import (
    OPEN_TRANSFER_STATUSES,
    EventKind,
    Member,
    MemberStatus,
    Transfer,
    TransferInitiator,
    TransferStatus,
)
from gonghui.orgs.models import MEMBER_HOLDING_LEVELS, Org, OrgLevel, Role

RESIDENCE_LEVELS = (OrgLevel.STREET, OrgLevel.DISTRICT)
MEMBERSHIP_PAGE = "/me/membership/"
TRANSFER_PAGE = "/me/transfer/"
# Roles whose holders are told about an escalated transfer (auditors only read).
NOTIFIED_ROLES = (RoleKind.CHAIR, RoleKind.ADMIN, RoleKind.STAFF)


# --- who may act ------------------------------------------------------------------------


def _is_member_self(actor: Any, member: Member) -> bool:
    return actor is not None and member.user_id is not None and getattr(actor, "pk", None) == member.user_id


def _can_change(actor: Any, path: str) -> bool:
    return can(actor, Perm.MEMBER_CHANGE, path)


def can_release(actor: Any, transfer: Transfer) -> bool:
    """The outgoing union's cadres (anyone above it too, so the common parent once escalated)."""
    if _can_change(actor, transfer.from_org.path):
        return True
    return transfer.escalated_to is not None and _can_change(actor, transfer.escalated_to.path)


def can_decide(actor: Any, transfer: Transfer) -> bool:
    """The receiving union's cadres accept or decline."""
    return _can_change(actor, transfer.to_org.path)


def can_cancel(actor: Any, transfer: Transfer) -> bool:
    return (
        _is_member_self(actor, transfer.member)
        or _can_change(actor, transfer.from_org.path)
        or _can_change(actor, transfer.to_org.path)
    )


def open_transfer(member: Member) -> Transfer | None:
    return (
        Transfer.objects.select_related("from_org", "to_org", "escalated_to")
        .filter(member=member, status__in=OPEN_TRANSFER_STATUSES)
        .first()
    )


# --- scoped reads (console and API) ------------------------------------------------------

BOXES = ("in", "out", "done")


def _base() -> QuerySet[Transfer]:
    return Transfer.objects.select_related("member", "from_org", "to_org", "escalated_to", "requested_by").defer(
        "member__id_number_enc", "member__bank_account_enc"
    )


def _either_side(user: Any, perm: Perm) -> Q:
    paths = access.scope_paths(user, perm)
    condition = Q(pk__in=[])
    for path in paths:
        condition |= Q(from_path__startswith=path) | Q(to_path__startswith=path)
    return condition


def box_queryset(user: Any, box: str) -> QuerySet[Transfer]:
    """The transfers of one tab, inside the cadre's subtree."""
    if box == "in":
        qs = access.scope(user, _base(), Perm.MEMBER_VIEW, path_field="to_path")
        return qs.filter(status=TransferStatus.RELEASED).order_by("released_at", "pk")
    if box == "out":
        qs = access.scope(user, _base(), Perm.MEMBER_VIEW, path_field="from_path")
        return qs.filter(status=TransferStatus.REQUESTED).order_by("release_due_at", "pk")
    done = (TransferStatus.ACCEPTED, TransferStatus.DECLINED, TransferStatus.CANCELLED)
    return _base().filter(_either_side(user, Perm.MEMBER_VIEW), status__in=done).order_by("-decided_at", "-pk")


def get_visible(user: Any, transfer_id: int) -> Transfer:
    """One transfer with either side in the user's subtree, else 404."""
    found = _base().filter(_either_side(user, Perm.MEMBER_VIEW), pk=transfer_id).first()
    if found is None:
        raise Http404
    return found


# --- helpers ----------------------------------------------------------------------------


def lock_member(pk: int) -> Member:
    """Lock one member row and return it, with its union, freshly read.

    The lock is taken on the member table alone: a ``FOR UPDATE`` over a join with the
    org would, on PostgreSQL, re-check the join against the *new* row version after
    waiting for a concurrent transfer and drop the row (its org changed) — the caller
    would see "does not exist" instead of the fresh state.
    """
    member = Member.objects.select_for_update().get(pk=pk)
    member.org = Org.objects.get(pk=member.org_id)
    return member


def _lock(transfer: Transfer) -> tuple[Transfer, Member]:
    """Lock the member, then the transfer; return both freshly read."""
    member = lock_member(transfer.member_id)
    Transfer.objects.select_for_update().filter(pk=transfer.pk).values_list("pk").get()
    # Read after locking, joins included (as in ``lock_member``, the lock itself takes no join).
    locked = Transfer.objects.select_related("from_org", "to_org", "escalated_to").get(pk=transfer.pk)
    locked.member = member
    return locked, member


def _require_status(transfer: Transfer, *allowed: str) -> None:
    if transfer.status not in allowed:
        raise Conflict(
            "TRANSFER_WRONG_STATUS",
            f"该转会当前为“{transfer.get_status_display()}”，不能办理此操作。",
            status=transfer.status,
        )


def _check_member_may_transfer(member: Member) -> None:
    if member.erased_at is not None or member.status == MemberStatus.LEFT:
        raise Conflict("TRANSFER_MEMBER_LEFT", "已退会的会员不能办理转会，可以重新申请入会。")
    if member.status == MemberStatus.RETAINED:
        raise Conflict("TRANSFER_MEMBER_RETAINED", "保留会籍的会员不能办理转会；重新就业后请先由原工会恢复正常会籍。")


def _check_target(member: Member, to_org: Org) -> None:
    if not to_org.is_active:
        raise InvalidValue("TRANSFER_TARGET_CLOSED", f"{to_org.name} 已撤销，不能接收会员。")
    if to_org.level not in MEMBER_HOLDING_LEVELS:
        raise InvalidValue("TRANSFER_TARGET_INVALID", f"{to_org.name} 不直接接收会员。")
    if to_org.pk == member.org_id:
        raise InvalidValue("TRANSFER_SAME_UNION", "会员已在该工会，无需转会。")


def _notify_cadres(org: Org, title: str, body: str) -> int:
    """One inbox message per cadre account holding a working role on ``org`` itself."""
    users = Role.objects.filter(org=org, role__in=NOTIFIED_ROLES).select_related("user").order_by("user_id").distinct()
    seen: set[int] = set()
    for role in users:
        if role.user_id in seen or not role.user.is_active:
            continue
        seen.add(role.user_id)
        inbox.notify_user(role.user, MessageKind.TRANSFER, title, body)
    return len(seen)


def common_parent(a: Org, b: Org) -> Org | None:
    """The lowest union above both ``a`` and ``b`` (their paths' longest shared prefix)."""
    step = Org.steplen
    shared = 0
    for i in range(0, min(len(a.path), len(b.path)), step):
        if a.path[i : i + step] != b.path[i : i + step]:
            break
        shared = i + step
    # Never one of the two sides itself: a transfer up or down a branch escalates above it.
    shared = min(shared, len(a.path) - step, len(b.path) - step)
    if shared <= 0:
        return None
    parent: Org | None = Org.objects.filter(path=a.path[:shared]).first()
    return parent


# --- steps ------------------------------------------------------------------------------


def _create(
    *,
    actor: Any,
    member: Member,
    to_org: Org,
    reason: str,
    new_workplace: str,
    initiated_by: str,
    to_residence: bool,
) -> Transfer:
    if initiated_by == TransferInitiator.MEMBER:
        if not _is_member_self(actor, member):
            raise InvalidValue("TRANSFER_NOT_YOURS", "只能为本人的会籍申请转会。")
    elif initiated_by == TransferInitiator.CADRE:
        if not (_can_change(actor, member.org_path) or _can_change(actor, to_org.path)):
            raise InvalidValue("TRANSFER_NOT_ALLOWED", "只有转出或转入工会的干部可以代为发起转会。")
    else:
        raise InvalidValue("TRANSFER_INITIATOR_INVALID", "发起方无效。")
    locked = lock_member(member.pk)
    _check_member_may_transfer(locked)
    target = Org.objects.select_for_update(no_key=True).get(pk=to_org.pk)
    _check_target(locked, target)
    if Transfer.objects.filter(member=locked, status__in=OPEN_TRANSFER_STATUSES).exists():
        raise Conflict("TRANSFER_ALREADY_OPEN", "已有一个正在办理的转会，请等它办结或先取消。")
    now = timezone.now()
    transfer = Transfer(
        member=locked,
        from_org=locked.org,
        from_path=locked.org_path,
        to_org=target,
        to_path=target.path,
        to_residence=to_residence,
        initiated_by=initiated_by,
        requested_by=actor,
        reason=(reason or "").strip()[:500],
        new_workplace=(new_workplace or "").strip()[:200],
        release_due_at=now + timedelta(days=settings.TRANSFER_RELEASE_DAYS),
    )
    try:
        with transaction.atomic():
            transfer.save()
    except IntegrityError as exc:  # a concurrent request won the partial unique index
        raise Conflict("TRANSFER_ALREADY_OPEN", "已有一个正在办理的转会，请等它办结或先取消。") from exc
    audit.record(
        "transfer.request",
        actor=actor,
        obj=transfer,
        org=locked.org,
        details={
            "member": locked.pk,
            "from_org": locked.org_id,
            "to_org": target.pk,
            "initiated_by": initiated_by,
            "to_residence": to_residence,
        },
    )
    where = "（居住地工会暂存）" if to_residence else ""
    inbox.notify(
        locked,
        MessageKind.TRANSFER,
        "转会申请已提交",
        f"从 {locked.org.name} 转入 {target.name}{where}，等待 {locked.org.name} 办理转出。",
        link=TRANSFER_PAGE,
        sender=locked.org,
    )
    return transfer


@transaction.atomic
def request_transfer(
    *,
    actor: Any,
    member: Member,
    to_org: Org,
    reason: str = "",
    new_workplace: str = "",
    initiated_by: str = TransferInitiator.MEMBER,
) -> Transfer:
    """Start a transfer of ``member`` to ``to_org`` (active, holding members, not its own union)."""
    return _create(
        actor=actor,
        member=member,
        to_org=to_org,
        reason=reason,
        new_workplace=new_workplace,
        initiated_by=initiated_by,
        to_residence=False,
    )


@transaction.atomic
def request_to_residence(
    *,
    actor: Any,
    member: Member,
    residence_org: Org,
    reason: str = "",
    new_workplace: str = "",
    initiated_by: str = TransferInitiator.MEMBER,
) -> Transfer:
    """No receiving union: send the membership to the residence area's street/district union.

    ``residence_org`` is picked by region (``orgs.selectors.suggest_for_region``); the
    membership waits there until a workplace union exists, and then transfers again.
    """
    if residence_org.level not in RESIDENCE_LEVELS:
        raise InvalidValue("TRANSFER_RESIDENCE_LEVEL", "居住地工会应为街道（乡镇）或区（县）总工会。")
    return _create(
        actor=actor,
        member=member,
        to_org=residence_org,
        reason=reason,
        new_workplace=new_workplace,
        initiated_by=initiated_by,
        to_residence=True,
    )


@transaction.atomic
def release(*, actor: Any, transfer: Transfer) -> Transfer:
    """The outgoing union (or, once escalated, the common parent) lets the member go."""
    transfer, member = _lock(transfer)
    if not can_release(actor, transfer):
        raise InvalidValue("TRANSFER_NOT_ALLOWED", "只有转出工会（或督办的上级工会）的干部可以办理转出。")
    _require_status(transfer, TransferStatus.REQUESTED)
    now = timezone.now()
    transfer.status = TransferStatus.RELEASED
    transfer.released_at, transfer.released_by = now, actor
    transfer.save(update_fields=["status", "released_at", "released_by"])
    audit.record(
        "transfer.release",
        actor=actor,
        obj=transfer,
        org=transfer.from_org,
        details={"member": member.pk, "escalated": transfer.escalated_to_id is not None},
    )
    inbox.notify(
        member,
        MessageKind.TRANSFER,
        "原工会已同意转出",
        f"{transfer.from_org.name} 已同意您转出，等待 {transfer.to_org.name} 接收。",
        link=TRANSFER_PAGE,
        sender=transfer.from_org,
        send_sms=True,
    )
    _notify_cadres(
        transfer.to_org,
        "有一名会员待转入",
        f"{transfer.from_org.name} 已办理转出，请在“转会办理”中接收或说明不予接收的原因。",
    )
    return transfer


@transaction.atomic
def accept(*, actor: Any, transfer: Transfer) -> Transfer:
    """The receiving union takes the member in: one continuous membership moves."""
    transfer, member = _lock(transfer)
    if not can_decide(actor, transfer):
        raise InvalidValue("TRANSFER_NOT_ALLOWED", "只有转入工会的干部可以接收。")
    _require_status(transfer, TransferStatus.RELEASED)
    _check_member_may_transfer(member)
    # Lock the receiving union as create_member does: a close or move running now either
    # commits first (we see it closed, or at its new path) or waits for us and carries us.
    target = Org.objects.select_for_update(no_key=True).get(pk=transfer.to_org_id)
    if not target.is_active:
        raise InvalidValue("TRANSFER_TARGET_CLOSED", f"{target.name} 已撤销，不能接收会员。")
    previous = member.org
    now = timezone.now()
    member.org, member.org_path = target, target.path
    fields = ["org", "org_path", "updated_at"]
    if transfer.new_workplace:
        member.workplace = transfer.new_workplace
        fields.append("workplace")
    member.save(update_fields=fields)
    transfer.status, transfer.decided_at, transfer.decided_by = TransferStatus.ACCEPTED, now, actor
    transfer.save(update_fields=["status", "decided_at", "decided_by"])
    note = "转入居住地工会暂存" if transfer.to_residence else ""
    record_event(member, EventKind.TRANSFERRED, org=target, from_org=previous, actor=actor, note=note)
    audit.record(
        "transfer.accept",
        actor=actor,
        obj=transfer,
        org=target,
        details={"member": member.pk, "from_org": previous.pk, "to_org": target.pk},
    )
    audit.record(
        "member.transfer", actor=actor, obj=member, org=target, details={"from_org": previous.pk, "to_org": target.pk}
    )
    inbox.notify(
        member,
        MessageKind.TRANSFER,
        "转会已完成",
        f"您的会籍已从 {previous.name} 转入 {target.name}，入会日期和会员卡号不变。",
        link=MEMBERSHIP_PAGE,
        sender=target,
        send_sms=True,
    )
    return transfer


@transaction.atomic
def decline(*, actor: Any, transfer: Transfer, reason: str) -> Transfer:
    """The receiving union says no, with a reason the member sees; the member stays put."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidValue("TRANSFER_DECLINE_REASON_REQUIRED", "请填写不予接收的原因，会员会看到这条说明。")
    transfer, member = _lock(transfer)
    if not can_decide(actor, transfer):
        raise InvalidValue("TRANSFER_NOT_ALLOWED", "只有转入工会的干部可以不予接收。")
    _require_status(transfer, *OPEN_TRANSFER_STATUSES)
    transfer.status, transfer.decline_reason = TransferStatus.DECLINED, reason[:500]
    transfer.decided_at, transfer.decided_by = timezone.now(), actor
    transfer.save(update_fields=["status", "decline_reason", "decided_at", "decided_by"])
    audit.record(
        "transfer.decline",
        actor=actor,
        obj=transfer,
        org=transfer.to_org,
        details={"member": member.pk, "reason": reason},
    )
    inbox.notify(
        member,
        MessageKind.TRANSFER,
        "转入工会不予接收",
        f"{transfer.to_org.name} 不予接收您的转会申请。原因：{reason}。您的会籍仍在 {member.org.name}。",
        link=TRANSFER_PAGE,
        sender=transfer.to_org,
        send_sms=True,
    )
    return transfer


@transaction.atomic
def cancel(*, actor: Any, transfer: Transfer, note: str = "") -> Transfer:
    """The member, or a cadre of either side, withdraws an open transfer."""
    transfer, member = _lock(transfer)
    if not can_cancel(actor, transfer):
        raise InvalidValue("TRANSFER_NOT_ALLOWED", "只有会员本人或转出、转入工会的干部可以取消转会。")
    _require_status(transfer, *OPEN_TRANSFER_STATUSES)
    _close_as_cancelled(transfer, actor=actor, note=note)
    if not _is_member_self(actor, member):
        inbox.notify(
            member,
            MessageKind.TRANSFER,
            "转会已取消",
            f"转入 {transfer.to_org.name} 的转会已由工会取消。{note}".strip(),
            link=TRANSFER_PAGE,
        )
    return transfer


def _close_as_cancelled(transfer: Transfer, *, actor: Any, note: str = "") -> None:
    transfer.status, transfer.decided_at = TransferStatus.CANCELLED, timezone.now()
    transfer.decided_by = actor if getattr(actor, "pk", None) else None
    transfer.save(update_fields=["status", "decided_at", "decided_by"])
    audit.record(
        "transfer.cancel",
        actor=actor,
        obj=transfer,
        org=transfer.from_org,
        details={"member": transfer.member_id, "reason": note[:200]} if note else {"member": transfer.member_id},
    )


def cancel_open_for(member: Member, *, actor: Any, note: str) -> int:
    """Cancel the member's open transfer (they are retained, leaving or erased).

    Call inside the caller's transaction, with the member row already locked.
    """
    transfers = list(
        Transfer.objects.select_for_update(of=("self",))
        .select_related("from_org", "to_org")
        .filter(member=member, status__in=OPEN_TRANSFER_STATUSES)
    )
    for transfer in transfers:
        _close_as_cancelled(transfer, actor=actor, note=note)
    return len(transfers)


def escalate_overdue(now: datetime | None = None, *, batch: int = 500) -> int:
    """Hand transfers still unreleased past their due date to the common parent union.

    Idempotent: a transfer escalates once (the conditional update only matches rows not
    escalated yet), so running it every hour, or twice at once, notifies once.
    """
    now = now or timezone.now()
    escalated = 0
    last_pk = 0
    while True:
        due = list(
            Transfer.objects.filter(
                status=TransferStatus.REQUESTED, release_due_at__lt=now, escalated_to__isnull=True, pk__gt=last_pk
            )
            .select_related("from_org", "to_org", "member")
            .order_by("pk")[:batch]
        )
        if not due:
            return escalated
        for transfer in due:
            last_pk = transfer.pk
            parent = common_parent(transfer.from_org, transfer.to_org)
            if parent is None:
                continue
            with transaction.atomic():
                won = Transfer.objects.filter(
                    pk=transfer.pk, status=TransferStatus.REQUESTED, escalated_to__isnull=True
                ).update(escalated_to=parent)
                if not won:
                    continue
                escalated += 1
                audit.record(
                    "transfer.escalate",
                    obj=transfer,
                    org=parent,
                    actor_label="转会超时督办",
                    details={"member": transfer.member_id, "escalated_to": parent.pk},
                )
                _notify_cadres(
                    parent,
                    "转会超时待督办",
                    f"{transfer.from_org.name} 超过 {settings.TRANSFER_RELEASE_DAYS} 天未办理会员转出"
                    f"（转入 {transfer.to_org.name}），请督办或直接办理转出。",
                )
                inbox.notify(
                    transfer.member,
                    MessageKind.TRANSFER,
                    "转会已提交上级工会督办",
                    f"{transfer.from_org.name} 未在期限内办理转出，已交 {parent.name} 督办。",
                    link=TRANSFER_PAGE,
                    sender=parent,
                )
