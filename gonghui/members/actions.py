"""State changes of member records: create, edit, reveal personal data, retain.

The membership lifecycle proper (join online, approval, transfer, leave) builds on these.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from gonghui.core import audit, idnumbers, pii
from gonghui.core.access import Perm, require
from gonghui.core.errors import Conflict, InvalidValue
from gonghui.core.mobiles import normalize_mobile
from gonghui.core.text import pinyin_keys
from gonghui.members.history import record_event
from gonghui.members.models import (
    OPEN_TRANSFER_STATUSES,
    EventKind,
    Member,
    MembershipEvent,
    MemberStatus,
    RetainReason,
    Transfer,
    TransferStatus,
)
from gonghui.orgs.models import Org

ID_DOMAIN = "id"
BANK_DOMAIN = "bank"

# Plain fields a cadre may set directly; identity fields go through their own checks.
PLAIN_FIELDS = (
    "ethnicity",
    "education",
    "political_status",
    "household_type",
    "employment_status",
    "is_migrant_worker",
    "new_employment_group",
    "skill_level",
    "workplace",
    "join_date",
    "bank_name",
)


@dataclass
class MemberInput:
    name: str
    id_number: str
    mobile: str = ""
    join_date: date | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    bank_account: str = ""


def id_blind_index(normalised_id: str) -> str:
    return pii.blind_index(normalised_id, ID_DOMAIN)


def find_by_id_number(raw: str) -> Member | None:
    """Exact lookup through the blind index; the plaintext is never queried."""
    try:
        rid = idnumbers.parse(raw)
    except idnumbers.IdNumberError:
        return None
    return Member.objects.filter(id_number_bidx=id_blind_index(rid.number)).select_related("org").first()


def build_member(org: Org, data: MemberInput) -> Member:
    """Validate and encrypt into an unsaved Member (shared by create, import and seeding)."""
    if not org.is_active:
        raise InvalidValue("ORG_CLOSED", f"{org.name} 已撤销，不能接收会员。")
    name = (data.name or "").strip()
    if not name:
        raise InvalidValue("MEMBER_NAME_REQUIRED", "姓名不能为空。")
    rid = idnumbers.parse(data.id_number)
    mobile = normalize_mobile(data.mobile) if data.mobile else ""
    full, initials = pinyin_keys(name)
    member = Member(
        org=org,
        org_path=org.path,
        name=name,
        name_pinyin=full,
        name_initials=initials,
        id_number_enc=pii.encrypt(rid.number),
        id_number_bidx=id_blind_index(rid.number),
        id_number_masked=pii.mask_id_number(rid.number),
        gender=rid.gender,
        birth_year=rid.birth_date.year,
        mobile=mobile,
        join_date=data.join_date or timezone.localdate(),
    )
    for key, value in data.extra.items():
        if key not in PLAIN_FIELDS:
            raise InvalidValue("MEMBER_UNKNOWN_FIELD", f"未知字段：{key}")
        setattr(member, key, value)
    if data.bank_account:
        set_bank_account(member, data.bank_account)
    return member


def set_bank_account(member: Member, raw: str) -> None:
    account = "".join(ch for ch in raw if ch.isdigit())
    if not 12 <= len(account) <= 30:
        raise InvalidValue("BANK_ACCOUNT_INVALID", "银行账号应为 12–30 位数字。")
    member.bank_account_enc = pii.encrypt(account)
    member.bank_account_bidx = pii.blind_index(account, BANK_DOMAIN)
    member.bank_account_masked = pii.mask_bank_account(account)


def lock_receiving_org(org: Org) -> Org:
    """Lock the union that is about to receive a member and return it re-read.

    A close or a move of its subtree running now either commits first (we then see the
    union closed, or its new path) or waits for this member and carries it along
    (orgs.actions locks the subtree before rewriting it). The lock holds other inserts
    into the same union back for the caller's short transaction only. Call inside it.
    """
    locked: Org = Org.objects.select_for_update(no_key=True).get(pk=org.pk)
    if not locked.is_active:
        raise InvalidValue("ORG_CLOSED", f"{locked.name} 已撤销，不能接收会员。")
    return locked


def insert_member(member: Member) -> Member:
    """Save a new Member built by ``build_member`` into its (locked, active) union.

    Shared by a cadre's create and the approval of an online application; call inside
    the action's transaction. The one-person-one-membership rule is checked here and,
    for a concurrent insert of the same person, by the unique blind index.
    """
    locked = lock_receiving_org(member.org)
    member.org, member.org_path = locked, locked.path
    existing = Member.objects.filter(id_number_bidx=member.id_number_bidx).select_related("org").first()
    if existing is not None:
        raise Conflict("MEMBER_EXISTS", f"该身份证号已是会员（{existing.org.name}）。", member_id=existing.pk)
    try:
        # A savepoint: a concurrent insert of the same person loses on the unique index.
        with transaction.atomic():
            member.save()
    except IntegrityError as exc:
        raise Conflict("MEMBER_EXISTS", "该身份证号已是会员。") from exc
    return member


@transaction.atomic
def create_member(*, actor: Any, org: Org, data: MemberInput) -> Member:
    member = insert_member(build_member(org, data))
    record_event(member, EventKind.JOINED, actor=actor, on_date=member.join_date, note="工会录入")
    audit.record("member.create", actor=actor, obj=member, details={"fields": sorted(data.extra)})
    return member


@transaction.atomic
def update_member(*, actor: Any, member: Member, values: dict[str, Any]) -> Member:
    changes: dict[str, list[Any]] = {}
    update_fields: list[str] = []
    for key, value in values.items():
        if key == "name":
            value = (value or "").strip()
            if not value:
                raise InvalidValue("MEMBER_NAME_REQUIRED", "姓名不能为空。")
            member.name_pinyin, member.name_initials = pinyin_keys(value)
            update_fields += ["name_pinyin", "name_initials"]
        elif key == "mobile":
            value = normalize_mobile(value) if value else ""
        elif key not in PLAIN_FIELDS:
            raise InvalidValue("MEMBER_UNKNOWN_FIELD", f"未知字段：{key}")
        old = getattr(member, key)
        if old != value:
            shown_old, shown_new = old, value
            if key == "mobile":
                shown_old, shown_new = pii.mask_mobile(old or ""), pii.mask_mobile(value)
            changes[key] = [_jsonable(shown_old), _jsonable(shown_new)]
            setattr(member, key, value)
            update_fields.append(key)
    if changes:
        member.save(update_fields=[*set(update_fields), "updated_at"])
        audit.record("member.update", actor=actor, obj=member, details={"changes": changes})
    return member


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


REVEALABLE = {"id_number": "身份证号", "bank_account": "银行账号"}


@transaction.atomic
def reveal_pii(*, actor: Any, member: Member, field_name: str, reason: str = "") -> str:
    """Return one unmasked field and write the audit row that says who saw it.

    The caller has already found ``member`` inside the actor's view scope; revealing
    needs the separate reveal permission on the member's org.
    """
    require(actor, Perm.MEMBER_REVEAL, member.org_path)
    if field_name not in REVEALABLE:
        raise InvalidValue("PII_FIELD_UNKNOWN", "该字段不能查看明文。")
    value = member.reveal_id_number() if field_name == "id_number" else member.reveal_bank_account()
    audit.record("member.pii_reveal", actor=actor, obj=member, details={"field": field_name, "reason": reason[:200]})
    return value


@transaction.atomic
def retain_members_of_closed_subtree(*, actor: Any, closed: Org, receiver: Org) -> int:
    """Move every member of ``closed`` (and its sub-unions) to ``receiver`` as retained.

    Members who had already left stay where they were: their record is history.
    """
    qs = Member.objects.filter(org_path__startswith=closed.path).exclude(status=MemberStatus.LEFT)
    now = timezone.now()
    # The history first, while the members still sit at their old unions: one RETAINED
    # event each, written in bulk (a closing street union can carry many thousands).
    note = f"单位工会撤销，会籍转入上级工会 {receiver.name}"[:500]
    today = timezone.localdate(now)
    events = (
        MembershipEvent(
            member_id=pk,
            kind=EventKind.RETAINED,
            org=receiver,
            from_org_id=org_id,
            on_date=today,
            note=note,
            actor=actor,
        )
        for pk, org_id in qs.order_by("pk").values_list("pk", "org_id").iterator(chunk_size=5000)
    )
    while chunk := list(itertools.islice(events, 5000)):
        MembershipEvent.objects.bulk_create(chunk)
    # Their open transfers end here: a retained member cannot transfer.
    Transfer.objects.filter(member__org_path__startswith=closed.path, status__in=OPEN_TRANSFER_STATUSES).update(
        status=TransferStatus.CANCELLED, decided_at=now
    )
    moved = qs.filter(status=MemberStatus.ACTIVE).update(
        org=receiver,
        org_path=receiver.path,
        status=MemberStatus.RETAINED,
        retain_reason=RetainReason.UNION_CLOSED,
        updated_at=now,
    )
    # Everyone else who has not left (members already retained on retirement or
    # unemployment) moves too but keeps status and reason: it still says why they pay
    # no dues.
    moved += qs.update(org=receiver, org_path=receiver.path, updated_at=now)
    audit.record(
        "member.retain_on_close",
        actor=actor,
        obj=closed,
        org=receiver,
        details={"closed_org": closed.pk, "receiver": receiver.pk, "count": moved},
    )
    return moved
