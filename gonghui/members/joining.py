"""Joining a union online (网上入会): apply, approve, reject, withdraw; and the accounts
behind it (register by SMS, claim a member record a cadre entered).

The flow: a worker with an SMS-verified account applies to a union, giving the data of
a member record and separate consent for the sensitive part (PIPL). The union's cadres
decide. Approval creates the member record — or, for someone who left, re-activates the
same record: one person has one Member row for life — issues the card number, records
the history event and tells the applicant (in-app and by SMS).

One person, one membership: every check goes through the blind index of the ID number,
never the plaintext. Someone already a member of another union is refused with
``MEMBER_ELSEWHERE`` and offered a transfer; someone with an application waiting is
refused with ``APPLICATION_PENDING`` (also enforced by a partial unique index).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.http import Http404
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from gonghui.core import audit, idnumbers, pii
from gonghui.core.access import Perm, require
from gonghui.core.errors import Conflict, DomainError, InvalidValue
from gonghui.core.mobiles import MobileError, normalize_mobile
from gonghui.core.models import User
from gonghui.core.text import pinyin_keys
from gonghui.inbox import actions as inbox
from gonghui.inbox.models import MessageKind
from gonghui.members import actions as member_actions
from gonghui.members import signals
from gonghui.members.cards import issue_card_number
from gonghui.members.history import record_event
from gonghui.members.models import (
    Application,
    ApplicationStatus,
    EmploymentStatus,
    EventKind,
    Member,
    MemberStatus,
    NewEmploymentGroup,
)
from gonghui.orgs.models import MEMBER_HOLDING_LEVELS, Org

# The version of the consent text the applicant agreed to; stored on each application.
# Change the version whenever the text changes, so every record says what was agreed.
CONSENT_VERSION = "2026.1"
CONSENT_TEXT = (
    "为办理入会、发放会员卡和提供会员服务，工会需要收集和使用您的身份证号码这一敏感个人信息。"
    "身份证号码加密保存，仅用于核验身份、防止重复入会和办理会籍接转，页面和导出中均脱敏显示，"
    "查看明文须经授权并留有记录。您可以拒绝，但将无法在网上办理入会；"
    "您也可以随时联系所在工会查询、更正或依法删除您的个人信息。"
)

REASON_MAX = 500


@dataclass
class ApplicationInput:
    name: str
    id_number: str
    mobile: str
    workplace: str = ""
    employment_status: str = EmploymentStatus.EMPLOYED
    new_employment_group: str = ""


@dataclass
class BulkResult:
    approved: list[Member] = field(default_factory=list)
    failed: list[tuple[Application, DomainError]] = field(default_factory=list)


def _status_link() -> str:
    # The domain names the page by URL name only; without the portal mounted, no link.
    try:
        return reverse("portal:applications")
    except NoReverseMatch:
        return ""


def _existing_member_problem(member: Member, org: Org, user: Any) -> DomainError | None:
    """Why the holder of an existing record may not apply to ``org``; None when they may."""
    if member.status == MemberStatus.LEFT:
        if member.user_id is not None and member.user_id != getattr(user, "pk", None):
            return Conflict(
                "MEMBER_LINKED_ELSEWHERE",
                "该身份证号的会员档案已关联其他账号，请联系原所在工会核实后再申请。",
            )
        return None  # rejoining is allowed: the same record is re-activated on approval
    if member.org_id == org.pk:
        return Conflict("ALREADY_MEMBER", f"您已是{org.name}的会员，无需重复申请。")
    return Conflict(
        "MEMBER_ELSEWHERE",
        f"您已是{member.org.name}的会员。一人只能在一个工会入会；换了工作单位，请申请转会，会籍和入会时间都会保留。",
        org_name=member.org.name,
        transfer=True,
    )


def check_can_join(user: Any, org: Org, id_number_bidx: str) -> None:
    """Raise the error an application by ``user`` for this person to ``org`` would meet."""
    existing = Member.objects.filter(id_number_bidx=id_number_bidx).select_related("org").first()
    if existing is not None:
        problem = _existing_member_problem(existing, org, user)
        if problem is not None:
            raise problem
    own = Member.objects.filter(user_id=user.pk).exclude(id_number_bidx=id_number_bidx).first()
    if own is not None:
        raise Conflict("ACCOUNT_HAS_MEMBER", "您的账号已关联另一份会员档案，不能再用其他身份证号申请入会。")
    if Application.objects.filter(id_number_bidx=id_number_bidx, status=ApplicationStatus.PENDING).exists():
        raise Conflict(
            "APPLICATION_PENDING", "该身份证号已有一份待审批的入会申请，请等待工会审批，或先撤回再重新申请。"
        )


def _check_org(org: Org) -> None:
    if not org.is_active:
        raise InvalidValue("ORG_CLOSED", f"{org.name} 已撤销，不能受理入会申请。")
    if org.level not in MEMBER_HOLDING_LEVELS:
        raise InvalidValue("ORG_NOT_ACCEPTING", f"{org.name} 不直接受理会员入会，请选择基层工会或街道、区县总工会。")


@transaction.atomic
def apply_for_membership(user: Any, org: Org, data: ApplicationInput, consent: bool) -> Application:
    """Submit an application to ``org`` for the account holder ``user``.

    The mobile must be the account's own, which was verified by SMS when the account was
    made; the ID number is validated (gender and birth year come from it) and encrypted.
    """
    if not consent:
        raise InvalidValue("CONSENT_REQUIRED", "请阅读并同意《敏感个人信息处理授权书》后再提交申请。")
    _check_org(org)
    name = (data.name or "").strip()
    if not name:
        raise InvalidValue("MEMBER_NAME_REQUIRED", "姓名不能为空。")
    if len(name) > 64:
        raise InvalidValue("MEMBER_NAME_TOO_LONG", "姓名过长。")
    rid = idnumbers.parse(data.id_number)
    try:
        mobile = normalize_mobile(data.mobile)
    except MobileError as exc:
        raise InvalidValue("MOBILE_INVALID", "请输入正确的 11 位手机号。") from exc
    if not user.mobile or mobile != user.mobile:
        raise InvalidValue(
            "MOBILE_NOT_VERIFIED", "手机号须是您登录账号时用短信验证过的号码。如需更换，请用新号码注册登录后再申请。"
        )
    if data.employment_status not in EmploymentStatus.values:
        raise InvalidValue("EMPLOYMENT_STATUS_INVALID", "请选择就业状态。")
    if data.new_employment_group and data.new_employment_group not in NewEmploymentGroup.values:
        raise InvalidValue("NEW_EMPLOYMENT_GROUP_INVALID", "新就业形态群体选择有误。")
    bidx = member_actions.id_blind_index(rid.number)
    check_can_join(user, org, bidx)
    now = timezone.now()
    application = Application(
        org=org,
        org_path=org.path,
        user=user,
        name=name,
        id_number_enc=pii.encrypt(rid.number),
        id_number_bidx=bidx,
        id_number_masked=pii.mask_id_number(rid.number),
        gender=rid.gender,
        birth_year=rid.birth_date.year,
        mobile=mobile,
        workplace=(data.workplace or "").strip()[:200],
        employment_status=data.employment_status,
        new_employment_group=data.new_employment_group or "",
        sensitive_consent_at=now,
        consent_version=CONSENT_VERSION,
    )
    try:
        # Two submits at once (a double tap): the partial unique index lets one through.
        with transaction.atomic():
            application.save()
    except IntegrityError as exc:
        raise Conflict("APPLICATION_PENDING", "该身份证号已有一份待审批的入会申请。") from exc
    audit.record(
        "application.submit",
        actor=user,
        actor_label=_applicant_label(application),
        obj=application,
        details={"consent_version": CONSENT_VERSION, "org": org.pk},
    )
    inbox.notify_user(
        user,
        MessageKind.APPLICATION,
        f"您的入会申请已提交至{org.name}",
        "工会审批后会通过站内消息和短信通知您。",
        link=_status_link(),
    )
    return application


def _applicant_label(application: Application) -> str:
    # An applicant's login name is their mobile; the audit log names them, masked data only.
    return f"{application.name}（申请人）"


def _lock_pending(application: Application) -> Application:
    """Lock the application row and re-read it; refuse unless it is still pending.

    Two cadres deciding at once, or one cadre's double click, queue on this lock; the
    second sees the first one's decision and stops here, so one member, one card number.
    """
    locked = Application.objects.select_for_update().select_related("org", "user").get(pk=application.pk)
    if locked.status != ApplicationStatus.PENDING:
        raise Conflict(
            "APPLICATION_DECIDED",
            f"该申请已处理（{locked.get_status_display()}），无需重复操作。",
            status=locked.status,
        )
    return locked


def _member_input(application: Application) -> member_actions.MemberInput:
    extra: dict[str, Any] = {
        "workplace": application.workplace,
        "employment_status": application.employment_status,
        "new_employment_group": application.new_employment_group,
    }
    return member_actions.MemberInput(
        name=application.name,
        id_number=pii.decrypt(application.id_number_enc),
        mobile=application.mobile,
        join_date=timezone.localdate(),
        extra=extra,
    )


def _rejoin(member: Member, application: Application, actor: Any) -> Member:
    """Re-activate a member who left: same record, new union, history continues."""
    org = member_actions.lock_receiving_org(application.org)
    from_org = member.org
    full, initials = pinyin_keys(application.name)
    member.org, member.org_path = org, org.path
    member.user = application.user
    member.name, member.name_pinyin, member.name_initials = application.name, full, initials
    member.mobile = application.mobile
    member.workplace = application.workplace
    member.employment_status = application.employment_status
    member.new_employment_group = application.new_employment_group
    member.status = MemberStatus.ACTIVE
    member.retain_reason = ""
    member.left_at = None
    member.leave_reason = ""
    member.inactive_flagged_at = None
    member.last_active_at = None
    member.join_date = timezone.localdate()
    member.sensitive_consent_at = application.sensitive_consent_at
    if not member.card_number:
        member.card_number = issue_card_number(org)
    member.save()
    record_event(member, EventKind.REJOINED, from_org=from_org, actor=actor, note="网上申请重新入会")
    return member


def _new_member(application: Application, actor: Any) -> Member:
    member = member_actions.build_member(application.org, _member_input(application))
    member.user = application.user
    member.sensitive_consent_at = application.sensitive_consent_at
    member.card_number = issue_card_number(application.org)
    member_actions.insert_member(member)
    record_event(member, EventKind.JOINED, actor=actor, on_date=member.join_date, note="网上申请入会")
    return member


@transaction.atomic
def approve(actor: Any, application: Application) -> Member:
    """Approve a pending application: member record, card number, history, notice."""
    require(actor, Perm.MEMBER_CHANGE, application.org_path)
    application = _lock_pending(application)
    _check_org(application.org)
    existing = Member.objects.select_for_update().filter(id_number_bidx=application.id_number_bidx).first()
    if existing is not None and existing.status != MemberStatus.LEFT:
        # Entered by a cadre or imported while the application waited.
        existing_org = Org.objects.get(pk=existing.org_id)
        raise Conflict(
            "MEMBER_EXISTS",
            f"该申请人已是会员（{existing_org.name}），不能再次入会；请驳回申请并说明情况。",
            member_id=existing.pk,
        )
    if existing is not None and existing.user_id not in (None, application.user_id):
        raise Conflict("MEMBER_LINKED_ELSEWHERE", "该申请人原有的会员档案已关联其他账号，请核实后处理。")
    other = Member.objects.filter(user_id=application.user_id)
    if existing is not None:
        other = other.exclude(pk=existing.pk)
    if other.exists():
        raise Conflict("ACCOUNT_HAS_MEMBER", "申请人的账号已关联另一份会员档案，请核实后处理。")
    try:
        with transaction.atomic():
            member = _rejoin(existing, application, actor) if existing else _new_member(application, actor)
    except IntegrityError as exc:  # the account was linked to another record meanwhile
        raise Conflict("ACCOUNT_HAS_MEMBER", "申请人的账号已关联另一份会员档案，请核实后处理。") from exc
    user = application.user
    if not user.name:
        user.name = application.name
        user.save(update_fields=["name"])
    now = timezone.now()
    application.status = ApplicationStatus.APPROVED
    application.decided_by = actor if getattr(actor, "pk", None) else None
    application.decided_at = now
    application.member = member
    application.save(update_fields=["status", "decided_by", "decided_at", "member"])
    audit.record(
        "application.approve",
        actor=actor,
        obj=application,
        details={"member": member.pk, "card_number": member.card_number, "rejoin": existing is not None},
    )
    inbox.notify(
        member,
        MessageKind.APPLICATION,
        f"您的入会申请已通过，欢迎加入{application.org.name}",
        f"会员卡号：{member.card_number}。登录后可在“我的”中查看电子会员卡。",
        link=_status_link(),
        sender=application.org,
        send_sms=True,
    )
    member_id, org_id = member.pk, application.org_id
    transaction.on_commit(lambda: signals.member_joined.send(sender=Member, member_id=member_id, org_id=org_id))
    return member


def bulk_approve(actor: Any, applications: Iterable[Application]) -> BulkResult:
    """Approve each application in its own transaction, in id order.

    One that fails (already decided, already a member…) is reported and does not hold
    back the others. Id order keeps two cadres' overlapping batches from deadlocking.
    """
    result = BulkResult()
    for application in sorted(applications, key=lambda a: a.pk):
        try:
            result.approved.append(approve(actor, application))
        except DomainError as exc:
            result.failed.append((application, exc))
    return result


@transaction.atomic
def reject(actor: Any, application: Application, reason: str) -> Application:
    """Reject with a reason; the applicant sees the reason and may apply again."""
    require(actor, Perm.MEMBER_CHANGE, application.org_path)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidValue("REJECT_REASON_REQUIRED", "请填写不予通过的原因，申请人会看到这段说明。")
    if len(reason) > REASON_MAX:
        raise InvalidValue("REJECT_REASON_TOO_LONG", f"原因请控制在 {REASON_MAX} 字以内。")
    application = _lock_pending(application)
    application.status = ApplicationStatus.REJECTED
    application.reject_reason = reason
    application.decided_by = actor if getattr(actor, "pk", None) else None
    application.decided_at = timezone.now()
    application.save(update_fields=["status", "reject_reason", "decided_by", "decided_at"])
    audit.record("application.reject", actor=actor, obj=application, details={"reason": reason})
    inbox.notify_user(
        application.user,
        MessageKind.APPLICATION,
        f"您向{application.org.name}提交的入会申请未通过",
        f"原因：{reason}",
        link=_status_link(),
        send_sms=True,
    )
    return application


@transaction.atomic
def withdraw(user: Any, application: Application) -> Application:
    """The applicant takes back a pending application (someone else's is a 404)."""
    if application.user_id != getattr(user, "pk", None):
        raise Http404
    application = _lock_pending(application)
    application.status = ApplicationStatus.WITHDRAWN
    application.decided_at = timezone.now()
    application.save(update_fields=["status", "decided_at"])
    audit.record("application.withdraw", actor=user, actor_label=_applicant_label(application), obj=application)
    return application


# --- accounts: registration by SMS, claiming a member record ------------------------------


@transaction.atomic
def register_account(mobile: str) -> User:
    """Create a password-less account for a mobile the caller has just verified by SMS."""
    mobile = normalize_mobile(mobile)
    if User.objects.filter(mobile=mobile).exists():
        raise Conflict("ACCOUNT_EXISTS", "该手机号已注册，请直接登录。")
    try:
        with transaction.atomic():
            user = User.objects.create_user(username=mobile, mobile=mobile)
    except IntegrityError as exc:  # registered a moment ago (or the name is taken)
        raise Conflict("ACCOUNT_EXISTS", "该手机号已注册，请直接登录。") from exc
    # The login name of a registered account is its mobile: keep it out of the log's labels.
    audit.record(
        "account.register",
        actor=user,
        actor_label=pii.mask_mobile(mobile),
        obj=user,
        details={"mobile": pii.mask_mobile(mobile)},
    )
    return user


CLAIM_NOT_MATCHED = (
    "没有找到与您填写的姓名、身份证号以及本账号手机号都一致、且尚未关联账号的会员档案。"
    "请核对填写内容；如仍无法关联，请联系所在工会核对登记的手机号。"
)


@transaction.atomic
def claim_member(user: Any, name: str, id_number: str) -> Member:
    """Link ``user`` to the member record a cadre entered or imported for them.

    Allowed only when name and ID number match, the record's mobile is the account's
    SMS-verified mobile and the record has no account yet. Every mismatch gives the same
    answer, so the form tells nothing about records that are not the caller's.
    """
    if Member.objects.filter(user_id=user.pk).exists():
        raise Conflict("ACCOUNT_HAS_MEMBER", "您的账号已关联会员档案。")
    rid = idnumbers.parse(id_number)
    member = (
        Member.objects.select_for_update()
        .filter(id_number_bidx=member_actions.id_blind_index(rid.number))
        .select_related("org")
        .first()
    )
    if (
        member is None
        or member.erased_at is not None
        or member.user_id is not None
        or not user.mobile
        or member.mobile != user.mobile
        or member.name != (name or "").strip()
    ):
        raise InvalidValue("CLAIM_NOT_MATCHED", CLAIM_NOT_MATCHED)
    member.user = user
    member.save(update_fields=["user", "updated_at"])
    if not user.name:
        user.name = member.name
        user.save(update_fields=["name"])
    audit.record("member.claim", actor=user, actor_label=f"{member.name}（本人）", obj=member)
    return member
