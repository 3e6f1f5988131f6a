"""Retain (保留会籍), restore, leave (退会), the inactivity review, and erasure on request.

- Retirement or unemployment keeps the membership at the original union as RETAINED:
  no dues, and no vote (``Member.has_vote``) unless the province allows it.
- Leaving is voluntary (the member, from the portal), decided by a cadre for six months
  without dues or activity, or expulsion. The record stays; rejoining is
  ``members.joining``'s business.
- Six months (``settings.INACTIVE_REVIEW_MONTHS``) without activity only *flags* a member
  for review; nobody is ever removed automatically.
- Erasure (PIPL art. 47) replaces the personal data with an anonymised shell that keeps
  the statistics right (status, union, join date, gender, birth year).

Every step locks the member row, writes a ``MembershipEvent`` and an audit row, and tells
the member through the inbox.
"""

from __future__ import annotations

import calendar
import secrets
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from gonghui.core import audit, pii
from gonghui.core.access import Perm, can
from gonghui.core.errors import Conflict, InvalidValue
from gonghui.inbox import actions as inbox
from gonghui.inbox.models import MessageKind
from gonghui.members import transfers
from gonghui.members.actions import ID_DOMAIN
from gonghui.members.history import record_event
from gonghui.members.models import (
    Application,
    EmploymentStatus,
    EventKind,
    LeaveReason,
    Member,
    MembershipEvent,
    MemberStatus,
    RetainReason,
    Transfer,
)

MEMBERSHIP_PAGE = "/me/membership/"
# What a personal reason for retaining may be; a closed union is ``retain_members_of_closed_subtree``.
PERSONAL_RETAIN_REASONS = (RetainReason.RETIRED, RetainReason.UNEMPLOYED)
ERASED_NAME = "（已删除）"
ERASED_MASK = "已删除"
# The pinyin keys of the shell: the member search never finds an erased record by name.
ERASED_PINYIN = ""
# Every personal field the erasure overwrites.
ERASED_FIELDS = (
    "name",
    "name_pinyin",
    "name_initials",
    "id_number_enc",
    "id_number_bidx",
    "id_number_masked",
    "mobile",
    "bank_account_enc",
    "bank_account_bidx",
    "bank_account_masked",
    "bank_name",
    "workplace",
    "ethnicity",
    "political_status",
    "card_number",
    "sensitive_consent_at",
    "user",
    "erased_at",
)


def _lock(member: Member) -> Member:
    return transfers.lock_member(member.pk)


def _require_cadre(actor: Any, member: Member, perm: Perm = Perm.MEMBER_CHANGE) -> None:
    if not can(actor, perm, member.org_path):
        raise InvalidValue("MEMBER_ACTION_NOT_ALLOWED", "您没有办理该会员会籍事项的权限。")


def _require_not_erased(member: Member) -> None:
    if member.erased_at is not None:
        raise Conflict("MEMBER_ERASED", "该会员的个人信息已依法删除，会籍不能再变更。")


@transaction.atomic
def retain(*, actor: Any, member: Member, reason: str, note: str = "") -> Member:
    """保留会籍 on retirement or unemployment: stays at the original union, no vote, no dues."""
    if reason not in PERSONAL_RETAIN_REASONS:
        raise InvalidValue("RETAIN_REASON_INVALID", "保留会籍的原因应为退休或失业。")
    _require_cadre(actor, member)
    member = _lock(member)
    _require_not_erased(member)
    if member.status != MemberStatus.ACTIVE:
        raise Conflict("MEMBER_NOT_ACTIVE", f"该会员当前为“{member.get_status_display()}”，不能保留会籍。")
    member.status, member.retain_reason = MemberStatus.RETAINED, reason
    member.employment_status = (
        EmploymentStatus.RETIRED if reason == RetainReason.RETIRED else EmploymentStatus.UNEMPLOYED
    )
    member.save(update_fields=["status", "retain_reason", "employment_status", "updated_at"])
    label = RetainReason(reason).label
    transfers.cancel_open_for(member, actor=actor, note=f"保留会籍（{label}）")
    record_event(member, EventKind.RETAINED, actor=actor, note=_note(str(label), note))
    audit.record("member.retain", actor=actor, obj=member, details={"reason": reason})
    inbox.notify(
        member,
        MessageKind.MEMBERSHIP,
        "您的会籍已转为保留会籍",
        f"原因：{label}。保留会籍期间会籍仍在 {member.org.name}，免交会费，不参加表决。",
        link=MEMBERSHIP_PAGE,
        sender=member.org,
    )
    return member


@transaction.atomic
def restore(*, actor: Any, member: Member, note: str = "") -> Member:
    """Back to an ordinary membership (re-employed, say)."""
    _require_cadre(actor, member)
    member = _lock(member)
    _require_not_erased(member)
    if member.status != MemberStatus.RETAINED:
        raise Conflict("MEMBER_NOT_RETAINED", "只有保留会籍的会员可以恢复正常会籍。")
    previous = member.retain_reason
    member.status, member.retain_reason = MemberStatus.ACTIVE, ""
    fields = ["status", "retain_reason", "updated_at"]
    if member.employment_status in (EmploymentStatus.RETIRED, EmploymentStatus.UNEMPLOYED):
        member.employment_status = EmploymentStatus.EMPLOYED
        fields.append("employment_status")
    member.save(update_fields=fields)
    record_event(member, EventKind.RESTORED, actor=actor, note=_note("恢复正常会籍", note))
    audit.record("member.restore", actor=actor, obj=member, details={"previous_reason": previous})
    inbox.notify(
        member,
        MessageKind.MEMBERSHIP,
        "您的会籍已恢复正常",
        f"您在 {member.org.name} 的会籍已恢复正常。",
        link=MEMBERSHIP_PAGE,
        sender=member.org,
    )
    return member


@transaction.atomic
def leave(*, actor: Any, member: Member, reason: str = LeaveReason.VOLUNTARY, note: str = "") -> Member:
    """退会: voluntary (the member themself or a cadre on their behalf), inactivity, or expulsion."""
    if reason not in LeaveReason.values:
        raise InvalidValue("LEAVE_REASON_INVALID", "退会原因无效。")
    is_self = actor is not None and member.user_id is not None and getattr(actor, "pk", None) == member.user_id
    if is_self:
        if reason != LeaveReason.VOLUNTARY:
            raise InvalidValue("LEAVE_REASON_INVALID", "本人只能申请自愿退会。")
    else:
        _require_cadre(actor, member)
    member = _lock(member)
    _require_not_erased(member)
    if member.status == MemberStatus.LEFT:
        raise Conflict("MEMBER_ALREADY_LEFT", "该会员已经退会。")
    if reason == LeaveReason.EXPELLED and not note.strip():
        raise InvalidValue("LEAVE_NOTE_REQUIRED", "开除会籍须写明依据（如生效判决文书）。")
    now = timezone.now()
    member.status, member.leave_reason, member.left_at = MemberStatus.LEFT, reason, now
    member.retain_reason = ""
    member.save(update_fields=["status", "leave_reason", "left_at", "retain_reason", "updated_at"])
    label = LeaveReason(reason).label
    transfers.cancel_open_for(member, actor=actor, note=f"退会（{label}）")
    record_event(member, EventKind.LEFT, actor=actor, note=_note(str(label), note))
    audit.record(
        "member.leave", actor=actor, obj=member, details={"reason": reason, "by": "member" if is_self else "cadre"}
    )
    inbox.notify(
        member,
        MessageKind.MEMBERSHIP,
        "您已退会",
        f"您已退出 {member.org.name}（{label}）。会籍记录会保留，今后可以重新申请入会。",
        link=MEMBERSHIP_PAGE,
        sender=member.org,
    )
    return member


# --- inactivity review ------------------------------------------------------------------


def months_before(moment: datetime, months: int) -> datetime:
    """``moment`` minus whole calendar months (31 March − 1 month → 28/29 February)."""
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def inactive_condition(now: datetime) -> Q:
    """Active, not flagged, no activity since the cutoff (or, never active, joined before it)."""
    cutoff = months_before(now, settings.INACTIVE_REVIEW_MONTHS)
    cutoff_date: date = timezone.localtime(cutoff).date()
    return Q(status=MemberStatus.ACTIVE, inactive_flagged_at__isnull=True, erased_at__isnull=True) & (
        Q(last_active_at__lt=cutoff) | Q(last_active_at__isnull=True, join_date__lt=cutoff_date)
    )


def flag_inactive(now: datetime | None = None, *, batch: int = 2000, span: int = 50_000) -> int:
    """Flag members without dues or activity for ``INACTIVE_REVIEW_MONTHS`` for review.

    Never removes anybody: the flag puts them on the cadres' review list. Walks the table
    in primary-key ranges (one index range scan each, no full-table sort), one short
    transaction per batch; the flag itself is the idempotency mark, so a rerun or a run
    killed mid-way simply carries on.
    """
    now = now or timezone.now()
    condition = inactive_condition(now)
    top = Member.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    flagged, low = 0, 0
    while low < top:
        high = low + span
        while True:
            with transaction.atomic():
                ids = list(
                    Member.objects.filter(condition, pk__gt=low, pk__lte=high)
                    .select_for_update(skip_locked=True)
                    .order_by("pk")
                    .values_list("pk", "org_id")[:batch]
                )
                if not ids:
                    break
                Member.objects.filter(pk__in=[pk for pk, _org in ids], inactive_flagged_at__isnull=True).update(
                    inactive_flagged_at=now, updated_at=now
                )
                today = timezone.localdate(now)
                note = f"连续 {settings.INACTIVE_REVIEW_MONTHS} 个月未交会费、未参加活动，待工会核查"
                MembershipEvent.objects.bulk_create(
                    MembershipEvent(member_id=pk, kind=EventKind.FLAGGED_INACTIVE, org_id=org, on_date=today, note=note)
                    for pk, org in ids
                )
                audit.record(
                    "member.flag_inactive",
                    actor_label="长期未活跃核查",
                    details={"count": len(ids), "first": ids[0][0], "last": ids[-1][0]},
                )
                flagged += len(ids)
            if len(ids) < batch:
                break
        low = high
    return flagged


@transaction.atomic
def clear_inactive_flag(*, actor: Any, member: Member, note: str = "") -> Member:
    """A cadre reviewed a flagged member and keeps them: the review counts as contact.

    ``last_active_at`` moves to now, so the next review is due in another full period
    rather than at the next housekeeping run.
    """
    _require_cadre(actor, member)
    member = _lock(member)
    if member.inactive_flagged_at is None:
        raise Conflict("MEMBER_NOT_FLAGGED", "该会员没有长期未活跃标记。")
    now = timezone.now()
    member.inactive_flagged_at, member.last_active_at = None, now
    member.save(update_fields=["inactive_flagged_at", "last_active_at", "updated_at"])
    record_event(member, EventKind.RESTORED, actor=actor, note=_note("长期未活跃核查完毕，会籍继续保持", note))
    audit.record("member.clear_inactive", actor=actor, obj=member, details={"reason": note[:200]} if note else {})
    return member


# --- erasure ----------------------------------------------------------------------------


def _tombstone() -> str:
    # Random, not derived from the person: the shell keeps a unique blind index (the
    # column is unique) that can never match anybody's real ID number again.
    return f"ERASED-{secrets.token_hex(12)}"


@transaction.atomic
def erase_personal_data(*, actor: Any, member: Member, legal_basis: str) -> Member:
    """Erase a member's personal data on a lawful request (PIPL 删除权); irreversible.

    Needs the reveal-level permission (chair or admin). Keeps status, union, join date,
    gender and birth year so subtree counts stay right; replaces name, ID number, mobile,
    bank account, workplace and other personal details; unlinks the login account; also
    blanks the free text of the member's transfers, history notes and applications.
    The audit log keeps its rows (a legal record, ≥ 6 months): the erasure row itself
    names only the shell.
    """
    legal_basis = (legal_basis or "").strip()
    if not legal_basis:
        raise InvalidValue("ERASURE_BASIS_REQUIRED", "请填写删除个人信息的法律依据（如本人书面申请、法院文书）。")
    _require_cadre(actor, member, Perm.MEMBER_REVEAL)
    member = _lock(member)
    if member.erased_at is not None:
        raise Conflict("MEMBER_ALREADY_ERASED", "该会员的个人信息已经删除，不能重复删除。")
    transfers.cancel_open_for(member, actor=actor, note="个人信息依法删除")
    now = timezone.now()
    tombstone = _tombstone()
    member.name, member.name_pinyin, member.name_initials = ERASED_NAME, ERASED_PINYIN, ERASED_PINYIN
    member.id_number_enc = pii.encrypt(tombstone)
    member.id_number_bidx = pii.blind_index(tombstone, ID_DOMAIN)
    member.id_number_masked = ERASED_MASK
    member.mobile = ""
    member.bank_account_enc, member.bank_account_bidx, member.bank_account_masked = None, "", ""
    member.bank_name = ""
    member.workplace = ""
    member.ethnicity = ""
    member.political_status = ""
    member.card_number = None
    member.sensitive_consent_at = None
    member.user = None
    member.erased_at = now
    member.save(update_fields=[*ERASED_FIELDS, "updated_at"])
    Transfer.objects.filter(member=member).update(reason="", new_workplace="", decline_reason="")
    MembershipEvent.objects.filter(member=member).update(note="")
    for application in Application.objects.filter(member=member):
        stone = _tombstone()
        application.name, application.mobile, application.workplace = ERASED_NAME, "", ""
        application.id_number_enc = pii.encrypt(stone)
        application.id_number_bidx = pii.blind_index(stone, ID_DOMAIN)
        application.id_number_masked = ERASED_MASK
        application.reject_reason = ""
        application.save(
            update_fields=[
                "name",
                "mobile",
                "workplace",
                "id_number_enc",
                "id_number_bidx",
                "id_number_masked",
                "reject_reason",
            ]
        )
    record_event(member, EventKind.ERASED, actor=actor, note="依法删除个人信息")
    audit.record("member.erase", actor=actor, obj=member, details={"reason": legal_basis[:200]})
    return member


def _note(base: str, extra: str) -> str:
    extra = (extra or "").strip()
    return f"{base}：{extra}" if extra else base
