"""``/api/v1/activities/{id}/signup/…``: sign-up (报名).

Two audiences:

- the member (portal session): the sign-up state (seats, my registration, the form to
  fill in), sign up with answers, cancel, confirm or decline an offer, my ticket;
- the organiser (cadre session, scoped through ``core.access``; another subtree's
  activity is 404): registrations (masked), attendance counts, check-in by QR text or
  code, removing someone with a reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from gonghui.activities.kinds.signup import actions, selectors, tickets
from gonghui.activities.kinds.signup.config import SignUpRules
from gonghui.activities.kinds.signup.kind import counts
from gonghui.activities.kinds.signup.models import Registration, RegistrationStatus
from gonghui.activities.models import Activity
from gonghui.api import activity_common
from gonghui.api.auth import AccountSessionAuth, caller_member, current_user
from gonghui.api.errors import ApiError, responses
from gonghui.core import pii
from gonghui.core.access import Perm
from gonghui.members.models import Member

router = Router(tags=["活动-报名 activities"])
member_auth = AccountSessionAuth()

STATUS_DOC = (
    "confirmed 报名成功；waitlisted 候补中；offered 递补待确认（须在 offer_expires_at 前确认）；"
    "cancelled 已取消；expired 递补已过期；declined 已放弃递补"
)


_not_found = activity_common.not_found


def _public_activity(activity_id: int) -> Activity:
    return activity_common.public_activity(activity_id, "signup")


def _cadre_activity(request: HttpRequest, activity_id: int, perm: Perm) -> Activity:
    return activity_common.cadre_activity(request, activity_id, perm, "signup")


_member = caller_member


def _my_live(activity: Activity, member: Member | None) -> Registration:
    registration = selectors.registration_of(activity, member)
    if registration is None or not registration.is_live:
        raise ApiError(404, "SIGNUP_NOT_FOUND", "您没有报名本活动")
    return registration


# --- schemas ------------------------------------------------------------------------------


class FieldOut(Schema):
    key: str = Field(..., description="字段键，报名时 answers 以它为键，如 f1")
    label: str = Field(..., description="字段名称")
    type: str = Field(..., description="text 文本，number 数字，choice 选择，date 日期（YYYY-MM-DD）")
    required: bool = Field(..., description="是否必填")
    choices: list[str] = Field(..., description="选择题的选项")


class NumbersOut(Schema):
    capacity: int = Field(..., description="名额")
    remaining: int = Field(..., description="剩余名额")
    waitlisted: int = Field(..., description="候补人数（含递补待确认）")
    confirmed: int = Field(..., description="报名成功人数")


class RegistrationOut(Schema):
    id: int
    status: RegistrationStatus = Field(..., description=STATUS_DOC)
    waitlist_place: int | None = Field(None, description="候补中时：当前排第几位（1 为下一个递补）")
    offer_expires_at: datetime | None = Field(None, description="递补待确认时：确认截止时间")
    checked_in_at: datetime | None = Field(None, description="签到时间")
    answers: dict[str, Any] = Field(..., description="报名信息，以字段键为键")
    created_at: datetime


class SignUpStateOut(Schema):
    numbers: NumbersOut
    fields: list[FieldOut] = Field(..., description="主办方设置的报名表字段")
    event_starts_at: datetime | None = Field(None, description="活动举办时间")
    venue: str = Field("", description="活动地点")
    cancel_deadline_at: datetime | None = Field(None, description="取消报名截止时间（报名成功后）；为空表示不限")
    confirm_hours: int = Field(..., description="候补递补后须在多少小时内确认")
    registration: RegistrationOut | None = Field(None, description="我的报名（有效报名优先，否则最近一次）")


class SignUpIn(Schema):
    answers: dict[str, Any] = Field(default_factory=dict, description='报名表答案，如 {"f1": "M", "f2": 2}')


class TicketOut(Schema):
    token: str = Field(..., description="签到二维码的内容（签名，长期有效；取消报名后失效）")
    code: str = Field(..., description="8 位签到码（无法扫码时报给工作人员），显示为 XXXX-XXXX")
    checked_in_at: datetime | None = None


def _registration_out(reg: Registration) -> RegistrationOut:
    place = selectors.waitlist_ahead(reg) + 1 if reg.status == RegistrationStatus.WAITLISTED else None
    return RegistrationOut(
        id=reg.pk,
        status=RegistrationStatus(reg.status),
        waitlist_place=place,
        offer_expires_at=reg.offer_expires_at if reg.status == RegistrationStatus.OFFERED else None,
        checked_in_at=reg.checked_in_at,
        answers=reg.answers,
        created_at=reg.created_at,
    )


def _state(activity: Activity, member: Member | None) -> SignUpStateOut:
    rules = SignUpRules.of(activity)
    reg = selectors.registration_of(activity, member)
    return SignUpStateOut(
        numbers=NumbersOut(**selectors.public_numbers(activity)),
        fields=[FieldOut(**f.as_dict()) for f in rules.fields],
        event_starts_at=rules.event_starts_at,
        venue=rules.venue,
        cancel_deadline_at=rules.cancel_deadline_at,
        confirm_hours=rules.confirm_hours,
        registration=_registration_out(reg) if reg else None,
    )


# --- member -------------------------------------------------------------------------------


@router.get(
    "/{activity_id}/signup",
    response={200: SignUpStateOut, **responses(404)},
    auth=member_auth,
    operation_id="get_signup",
    summary="报名情况：名额、报名表字段、我的报名",
)
def get_signup(request: HttpRequest, activity_id: int) -> SignUpStateOut:
    """名额与剩余、报名表字段，以及当前会员的报名（含候补位次、递补确认截止）。"""
    return _state(_public_activity(activity_id), _member(request))


@router.post(
    "/{activity_id}/signup",
    response={201: SignUpStateOut, **responses(400, 403, 404, 409)},
    auth=member_auth,
    operation_id="sign_up",
    summary="报名（名额满时进入候补）",
)
def sign_up(request: HttpRequest, activity_id: int, body: SignUpIn) -> Status[SignUpStateOut]:
    """按报名表提交答案报名。有名额时 `confirmed`，名额满且允许候补时 `waitlisted`。

    不符合条件返回 `403 NOT_ELIGIBLE` 类代码（如 `SIGNUP_ALREADY` 已报名、`SIGNUP_FULL` 名额已满、
    `AUDIENCE_OUTSIDE`）；答案不合要求返回 `400 SIGNUP_FIELD_*`。
    """
    activity = _public_activity(activity_id)
    member = _member(request)
    actions.sign_up(member=member, activity=activity, answers=body.answers)
    return Status(201, _state(activity, member))


@router.post(
    "/{activity_id}/signup/cancel",
    response={200: SignUpStateOut, **responses(404, 409)},
    auth=member_auth,
    operation_id="cancel_signup",
    summary="取消报名或退出候补",
)
def cancel_signup(request: HttpRequest, activity_id: int) -> SignUpStateOut:
    """报名成功者须在取消截止前取消（否则 `409 SIGNUP_CANCEL_CLOSED`）；空出的名额自动递补给候补第一位。"""
    activity = _public_activity(activity_id)
    member = _member(request)
    actions.cancel(member=member, registration=_my_live(activity, member))
    return _state(activity, member)


@router.post(
    "/{activity_id}/signup/confirm",
    response={200: SignUpStateOut, **responses(404, 409)},
    auth=member_auth,
    operation_id="confirm_signup_offer",
    summary="确认递补名额",
)
def confirm_signup_offer(request: HttpRequest, activity_id: int) -> SignUpStateOut:
    """在 `offer_expires_at` 前确认递补名额；超时返回 `409 SIGNUP_OFFER_EXPIRED`。"""
    activity = _public_activity(activity_id)
    member = _member(request)
    actions.confirm_offer(member=member, registration=_my_live(activity, member))
    return _state(activity, member)


@router.post(
    "/{activity_id}/signup/decline",
    response={200: SignUpStateOut, **responses(404, 409)},
    auth=member_auth,
    operation_id="decline_signup_offer",
    summary="放弃递补名额",
)
def decline_signup_offer(request: HttpRequest, activity_id: int) -> SignUpStateOut:
    """放弃后名额顺延给下一位候补会员。"""
    activity = _public_activity(activity_id)
    member = _member(request)
    actions.decline_offer(member=member, registration=_my_live(activity, member))
    return _state(activity, member)


@router.get(
    "/{activity_id}/signup/ticket",
    response={200: TicketOut, **responses(404)},
    auth=member_auth,
    operation_id="get_signup_ticket",
    summary="我的签到二维码",
)
def get_signup_ticket(request: HttpRequest, activity_id: int) -> TicketOut:
    """报名成功后才有签到码（否则 `404 SIGNUP_NO_TICKET`）。"""
    activity = _public_activity(activity_id)
    reg = selectors.registration_of(activity, _member(request))
    if reg is None or reg.status != RegistrationStatus.CONFIRMED:
        raise ApiError(404, "SIGNUP_NO_TICKET", "报名成功后才有签到码")
    return TicketOut(
        token=tickets.sign(reg.pk, reg.ticket_code), code=reg.ticket_display, checked_in_at=reg.checked_in_at
    )


# --- organiser ----------------------------------------------------------------------------


class RegistrationRowOut(Schema):
    id: int
    masked_name: str = Field(..., description="脱敏姓名")
    masked_mobile: str = Field(..., description="脱敏手机号")
    union: str = Field(..., description="所属工会")
    status: RegistrationStatus = Field(..., description=STATUS_DOC)
    position: int | None = Field(None, description="候补序号（按到达顺序）")
    offer_expires_at: datetime | None = None
    checked_in_at: datetime | None = None
    answers: dict[str, Any]
    created_at: datetime


class RegistrationPageOut(Schema):
    count: int
    page: int
    pages: int
    counts: dict[str, int] = Field(..., description="confirmed、offered、waitlisted、cancelled、checked_in")
    items: list[RegistrationRowOut]


class AttendanceOut(Schema):
    confirmed: int = Field(..., description="报名成功")
    checked_in: int = Field(..., description="已签到")
    absent: int = Field(..., description="未到")


class CheckInIn(Schema):
    code: str = Field(..., min_length=1, max_length=400, description="签到二维码内容、8 位签到码，或会员卡二维码内容")


class CheckInOut(Schema):
    outcome: str = Field(
        ...,
        description="checked_in 签到成功；already 已签到过；not_registered 未报名；cancelled 已取消；"
        "waitlisted 候补中；offered 递补待确认；invalid 无法识别",
    )
    message: str = Field(..., description="给工作人员看的中文提示")
    masked_name: str = ""
    union: str = ""
    checked_in_at: datetime | None = None
    attendance: AttendanceOut


class RemoveIn(Schema):
    reason: str = Field(..., min_length=1, max_length=200, description="取消原因（写入审计日志并通知会员）")


PER_PAGE = 100


@router.get(
    "/{activity_id}/signup/registrations",
    response={200: RegistrationPageOut, **responses(404)},
    operation_id="list_signup_registrations",
    summary="报名名单（脱敏）",
)
def list_signup_registrations(
    request: HttpRequest, activity_id: int, show: str = "", q: str = "", page: int = 1
) -> RegistrationPageOut:
    """`show`：confirmed、waitlisted、checked_in、absent、cancelled，留空为全部；`q`：姓名或签到码。每页 100 条。"""
    activity = _cadre_activity(request, activity_id, Perm.ACTIVITY_VIEW)
    if show not in selectors.FILTERS:
        raise ApiError(422, "VALIDATION_ERROR", "show 取值无效")
    qs = selectors.registrations(activity, show=show, q=q[:40])
    total = qs.count()
    pages = max((total + PER_PAGE - 1) // PER_PAGE, 1)
    page = min(max(page, 1), pages)
    items = []
    for reg in qs[(page - 1) * PER_PAGE : page * PER_PAGE]:
        member = reg.member
        erased = member.erased_at is not None
        items.append(
            RegistrationRowOut(
                id=reg.pk,
                masked_name="" if erased else pii.mask_name(member.name),
                masked_mobile="" if erased else pii.mask_mobile(member.mobile or ""),
                union=member.org.name,
                status=RegistrationStatus(reg.status),
                position=reg.position,
                offer_expires_at=reg.offer_expires_at,
                checked_in_at=reg.checked_in_at,
                answers=reg.answers,
                created_at=reg.created_at,
            )
        )
    return RegistrationPageOut(count=total, page=page, pages=pages, counts=counts(activity), items=items)


@router.get(
    "/{activity_id}/signup/attendance",
    response={200: AttendanceOut, **responses(404)},
    operation_id="get_signup_attendance",
    summary="签到人数",
)
def get_signup_attendance(request: HttpRequest, activity_id: int) -> AttendanceOut:
    activity = _cadre_activity(request, activity_id, Perm.ACTIVITY_VIEW)
    return AttendanceOut(**selectors.attendance(activity))


@router.post(
    "/{activity_id}/signup/checkin",
    response={200: CheckInOut, **responses(404, 409)},
    operation_id="signup_check_in",
    summary="现场签到（扫码或输入签到码）",
)
def signup_check_in(request: HttpRequest, activity_id: int, body: CheckInIn) -> CheckInOut:
    """每条报名只记录一次签到时间；再次扫码返回 `already` 和首次签到时间。未报名、已取消、候补中的人
    返回相应的 `outcome` 与提示（HTTP 200），不是错误。"""
    activity = _cadre_activity(request, activity_id, Perm.ACTIVITY_MANAGE)
    result = actions.check_in(actor=current_user(request), activity=activity, raw=body.code)
    return CheckInOut(
        outcome=result.outcome,
        message=result.message,
        masked_name=result.masked_name,
        union=result.union,
        checked_in_at=result.checked_in_at,
        attendance=AttendanceOut(**selectors.attendance(activity)),
    )


@router.post(
    "/{activity_id}/signup/registrations/{registration_id}/cancel",
    response={200: RegistrationRowOut, **responses(400, 404, 409)},
    operation_id="cancel_signup_registration",
    summary="主办方取消某人的报名",
)
def cancel_signup_registration(
    request: HttpRequest, activity_id: int, registration_id: int, body: RemoveIn
) -> RegistrationRowOut:
    """写入审计日志并通知会员；空出的名额自动递补给候补第一位。"""
    activity = _cadre_activity(request, activity_id, Perm.ACTIVITY_MANAGE)
    reg = (
        Registration.objects.select_related("member", "member__org")
        .filter(pk=registration_id, activity=activity)
        .first()
    )
    if reg is None:
        raise _not_found()
    done = actions.cancel_by_organiser(actor=current_user(request), registration=reg, reason=body.reason)
    member = reg.member
    return RegistrationRowOut(
        id=done.pk,
        masked_name=pii.mask_name(member.name),
        masked_mobile=pii.mask_mobile(member.mobile or ""),
        union=member.org.name,
        status=RegistrationStatus(done.status),
        position=done.position,
        offer_expires_at=done.offer_expires_at,
        checked_in_at=done.checked_in_at,
        answers=done.answers,
        created_at=done.created_at,
    )
