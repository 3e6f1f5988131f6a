"""``/api/v1/applications``: joining online (网上入会) — apply, the cadres' queue, decisions.

``POST /applications`` is the applicant's own call and takes any logged-in session (the
account whose SMS-verified mobile the application carries). Everything else is the
cadres' side with the API's default auth, scoped through ``core.access``: reading needs
``member.view`` over the application's union, deciding ``member.change``; outside that an
application answers 404 like one that does not exist.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from pydantic import ConfigDict

from gonghui.api.auth import AccountSessionAuth, current_user
from gonghui.api.errors import ApiError, responses
from gonghui.core import access, pii
from gonghui.core.access import Perm
from gonghui.core.models import User
from gonghui.members import joining
from gonghui.members.models import (
    Application,
    ApplicationStatus,
    EmploymentStatus,
    Gender,
    NewEmploymentGroup,
)
from gonghui.orgs.models import Org, OrgStatus

MAX_LIMIT = 100


router = Router(tags=["入会申请 applications"])


class ApplicationOut(Schema):
    id: int = Field(..., description="申请 ID")
    org_id: int = Field(..., description="申请加入的工会 ID")
    org_name: str = Field(..., description="申请加入的工会名称")
    name: str = Field(..., description="姓名")
    gender: Gender = Field(..., description="性别：M 男，F 女（由身份证号推出）")
    birth_year: int = Field(..., description="出生年份")
    id_number_masked: str = Field(..., description="身份证号（脱敏）")
    mobile_masked: str = Field(..., description="手机号（脱敏；为申请人账号的短信验证手机号）")
    workplace: str = Field(..., description="工作单位")
    employment_status: EmploymentStatus = Field(..., description="就业状态")
    new_employment_group: str = Field(..., description="新就业形态群体代码（空表示不属于）")
    consent_version: str = Field(..., description="申请人同意的敏感个人信息处理授权书版本")
    sensitive_consent_at: datetime = Field(..., description="同意授权的时间")
    status: ApplicationStatus = Field(
        ..., description="状态：pending 待审批，approved 已通过，rejected 未通过，withdrawn 已撤回"
    )
    reject_reason: str = Field(..., description="不予通过的原因（申请人可见）")
    decided_at: datetime | None = Field(None, description="审批时间")
    member_id: int | None = Field(None, description="通过后建立（或重新激活）的会员 ID")
    card_number: str | None = Field(None, description="通过后发放的会员卡号")
    created_at: datetime = Field(..., description="申请时间")

    @staticmethod
    def resolve_org_name(obj: Application) -> str:
        return obj.org.name

    @staticmethod
    def resolve_mobile_masked(obj: Application) -> str:
        return pii.mask_mobile(obj.mobile)

    @staticmethod
    def resolve_card_number(obj: Application) -> str | None:
        return obj.member.card_number if obj.member_id and obj.member else None


class ApplicationPage(Schema):
    items: list[ApplicationOut] = Field(..., description="申请列表")
    next: str | None = Field(None, description="下一页游标：作为 cursor 参数传回；为空表示没有更多")


class ApplyIn(Schema):
    model_config = ConfigDict(extra="forbid")

    org_id: int = Field(..., description="申请加入的工会 ID（须为正常状态的工会）")
    name: str = Field(..., min_length=1, max_length=64, description="姓名（与身份证一致）")
    id_number: str = Field(..., min_length=1, max_length=40, description="居民身份证号（加密保存，只返回脱敏形式）")
    mobile: str = Field(..., max_length=20, description="手机号：须与调用者账号经短信验证的手机号一致")
    workplace: str = Field("", max_length=200, description="工作单位")
    employment_status: EmploymentStatus = Field(EmploymentStatus.EMPLOYED, description="就业状态")
    new_employment_group: NewEmploymentGroup | None = Field(None, description="新就业形态群体（不属于则省略）")
    consent: bool = Field(
        ...,
        description=f"是否单独同意《敏感个人信息处理授权书》（版本 {joining.CONSENT_VERSION}）；须为 true",
    )


class ApplicationFilters(Schema):
    status: ApplicationStatus | None = Field(ApplicationStatus.PENDING, description="按状态筛选（默认待审批）")
    org: int | None = Field(None, description="只列出该工会（及其下级）的申请；须在管辖范围内，否则 404")
    new_employment_group: NewEmploymentGroup | None = Field(None, description="按新就业形态群体筛选")
    q: str | None = Field(None, max_length=40, description="按姓名开头筛选")
    limit: int = Field(20, ge=1, le=MAX_LIMIT, description=f"每页条数（1–{MAX_LIMIT}）")
    cursor: str | None = Field(None, max_length=64, description="上一页返回的 next 游标")


class RejectIn(Schema):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(..., max_length=joining.REASON_MAX, description="不予通过的原因（必填，申请人可见）")


def _encode_cursor(app_id: int) -> str:
    return base64.urlsafe_b64encode(f"a:{app_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = raw.partition(":")
        if kind != "a" or not value.isdigit():
            raise ValueError(raw)
        return int(value)
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise ApiError(400, "INVALID_CURSOR", "分页游标无效，请从第一页重新开始。") from exc


def _get(request: HttpRequest, application_id: int, perm: Perm) -> Application:
    qs = Application.objects.select_related("org", "member")
    return access.get_object_or_404(current_user(request), qs, perm, pk=application_id)


@router.post(
    "",
    auth=AccountSessionAuth(),
    response={201: ApplicationOut, **responses(400, 404, 409)},
    operation_id="apply_for_membership",
    summary="提交入会申请（申请人本人）",
)
def apply_for_membership(request: HttpRequest, payload: ApplyIn) -> Status[Application]:
    """以当前登录账号向一个工会提交入会申请。

    错误代码：`CONSENT_REQUIRED` 未同意授权书；`MOBILE_NOT_VERIFIED` 手机号不是账号的短信验证手机号；
    `ID_*` 身份证号有误；`ORG_CLOSED` 工会已撤销；`ALREADY_MEMBER` 已是该工会会员（409）；
    `MEMBER_ELSEWHERE` 已是其他工会会员（409，`details.org_name` 给出该工会名称，`details.transfer`
    为 true 表示应改为申请转会）；`APPLICATION_PENDING` 已有待审批的申请（409）；
    `ACCOUNT_HAS_MEMBER` 账号已关联另一份会员档案（409）。不存在或已撤销的工会返回 404。
    """
    user = getattr(request, "auth", None)
    if not isinstance(user, User):
        raise ApiError(401, "AUTH_REQUIRED", "请先登录")
    org = Org.objects.filter(pk=payload.org_id, status=OrgStatus.ACTIVE).first()
    if org is None:
        raise ApiError(404, "NOT_FOUND", "对象不存在")
    data = joining.ApplicationInput(
        name=payload.name,
        id_number=payload.id_number,
        mobile=payload.mobile,
        workplace=payload.workplace,
        employment_status=payload.employment_status.value,
        new_employment_group=payload.new_employment_group.value if payload.new_employment_group else "",
    )
    application = joining.apply_for_membership(user, org, data, consent=payload.consent)
    return Status(201, Application.objects.select_related("org", "member").get(pk=application.pk))


@router.get(
    "",
    response={200: ApplicationPage, **responses(400, 404)},
    operation_id="list_applications",
    summary="入会审批队列",
)
def list_applications(request: HttpRequest, filters: Query[ApplicationFilters]) -> dict[str, Any]:
    """管辖范围内的入会申请（脱敏），按 ID 倒序，游标分页；默认只列待审批的。"""
    user = current_user(request)
    qs = access.scope(
        user, Application.objects.select_related("org", "member").defer("id_number_enc"), Perm.MEMBER_VIEW
    )
    if filters.org is not None:
        org = access.get_object_or_404(user, Org.objects.all(), Perm.MEMBER_VIEW, pk=filters.org)
        qs = qs.filter(org_path__startswith=org.path)
    if filters.status is not None:
        qs = qs.filter(status=filters.status)
    if filters.new_employment_group is not None:
        qs = qs.filter(new_employment_group=filters.new_employment_group)
    if filters.q:
        qs = qs.filter(name__startswith=filters.q.strip())
    if filters.cursor:
        qs = qs.filter(pk__lt=_decode_cursor(filters.cursor))
    rows = list(qs.order_by("-pk")[: filters.limit + 1])
    more = len(rows) > filters.limit
    rows = rows[: filters.limit]
    return {"items": rows, "next": _encode_cursor(rows[-1].pk) if more else None}


@router.get(
    "/{int:application_id}",
    response={200: ApplicationOut, **responses(404)},
    operation_id="get_application",
    summary="入会申请详情",
)
def get_application(request: HttpRequest, application_id: int) -> Application:
    """一份入会申请（脱敏）；不在管辖范围内时返回 404。"""
    return _get(request, application_id, Perm.MEMBER_VIEW)


@router.post(
    "/{int:application_id}/approve",
    response={200: ApplicationOut, **responses(404, 409)},
    operation_id="approve_application",
    summary="通过入会申请",
)
def approve_application(request: HttpRequest, application_id: int) -> Application:
    """通过申请：建立（或为退会后重新入会者重新激活）会员档案，发放会员卡号，通知申请人。

    错误代码：`APPLICATION_DECIDED` 申请已处理（409，重复点击或他人已审批）；`MEMBER_EXISTS`
    申请人期间已在别处入会（409）；`ORG_CLOSED` 工会已撤销。需要修改会员的权限，否则 404。
    """
    application = _get(request, application_id, Perm.MEMBER_CHANGE)
    joining.approve(current_user(request), application)
    return _get(request, application_id, Perm.MEMBER_VIEW)


@router.post(
    "/{int:application_id}/reject",
    response={200: ApplicationOut, **responses(400, 404, 409)},
    operation_id="reject_application",
    summary="驳回入会申请",
)
def reject_application(request: HttpRequest, application_id: int, payload: RejectIn) -> Application:
    """驳回申请，原因必填并展示给申请人（站内消息和短信）。

    错误代码：`REJECT_REASON_REQUIRED` 未填写原因；`APPLICATION_DECIDED` 申请已处理（409）。
    """
    application = _get(request, application_id, Perm.MEMBER_CHANGE)
    joining.reject(current_user(request), application, payload.reason)
    return _get(request, application_id, Perm.MEMBER_VIEW)
