"""``/api/v1/members``: member records, masked.

Personal data never leaves in plaintext here except through ``/reveal``, which needs the
reveal permission and writes an audit row (``members.actions.reveal_pii``). Lists show
``id_number_masked`` and a masked mobile. The birth date is deliberately absent: the mask
hides exactly the eight birth-date digits, so returning the date beside it would give
the whole number back.
"""

from __future__ import annotations

import base64
import binascii
from datetime import date, datetime
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema, Status
from pydantic import ConfigDict

from gonghui.api.auth import current_user
from gonghui.api.errors import ApiError, responses
from gonghui.core import access
from gonghui.core.access import Perm
from gonghui.core.errors import InvalidValue
from gonghui.members import actions, selectors
from gonghui.members.models import (
    Education,
    EmploymentStatus,
    Gender,
    HouseholdType,
    Member,
    MemberStatus,
    NewEmploymentGroup,
    PoliticalStatus,
    SkillLevel,
)
from gonghui.orgs.models import Org

router = Router(tags=["会员 members"])

MAX_LIMIT = 100

# Member fields that are NOT NULL but may be blank: an explicit null clears them to "".
_BLANKABLE = {
    "mobile",
    "ethnicity",
    "education",
    "political_status",
    "household_type",
    "new_employment_group",
    "skill_level",
    "workplace",
    "bank_name",
}
# Fields that must keep a value: null is refused.
_REQUIRED = {"name", "employment_status", "is_migrant_worker", "join_date"}


class MemberOut(Schema):
    id: int = Field(..., description="会员 ID")
    org_id: int = Field(..., description="所在工会 ID")
    org_name: str = Field(..., description="所在工会名称")
    name: str = Field(..., description="姓名")
    gender: Gender = Field(..., description="性别：M 男，F 女（由身份证号推出）")
    id_number_masked: str = Field(..., description="身份证号（脱敏，如 440106********123X）")
    mobile_masked: str = Field(..., description="手机号（脱敏，如 138****8000）")
    ethnicity: str = Field(..., description="民族")
    education: str = Field(..., description="学历代码（空表示未填）")
    political_status: str = Field(..., description="政治面貌代码")
    household_type: str = Field(..., description="户籍类型代码")
    employment_status: EmploymentStatus = Field(..., description="就业状态")
    is_migrant_worker: bool = Field(..., description="是否农民工")
    new_employment_group: str = Field(..., description="新就业形态群体代码")
    skill_level: str = Field(..., description="技能等级代码")
    workplace: str = Field(..., description="工作单位")
    join_date: date = Field(..., description="入会日期")
    card_number: str | None = Field(None, description="会员卡号")
    status: MemberStatus = Field(..., description="会籍状态：active 正常，retained 保留会籍，left 已退会")
    retain_reason: str = Field(..., description="保留会籍原因代码")
    bank_account_masked: str = Field(..., description="银行账号（脱敏，只显示后四位）")
    bank_name: str = Field(..., description="开户行")
    created_at: datetime = Field(..., description="建档时间")
    updated_at: datetime = Field(..., description="最后修改时间")

    @staticmethod
    def resolve_org_name(obj: Member) -> str:
        return obj.org.name


class MemberPage(Schema):
    items: list[MemberOut] = Field(..., description="会员列表，按 ID 倒序（最新建档在前）")
    next: str | None = Field(None, description="下一页游标：作为 cursor 参数传回；为空表示没有更多")


class MemberFilters(Schema):
    org: int | None = Field(None, description="只列出该组织（及其下级）的会员；组织须在管辖范围内，否则 404")
    subtree: bool = Field(True, description="与 org 同用：true 含全部下级组织，false 只含该组织直属会员")
    status: MemberStatus | None = Field(None, description="按会籍状态筛选")
    q: str | None = Field(
        None,
        max_length=40,
        description=(
            "搜索：身份证号按盲索引精确匹配；11 位数字按手机号精确匹配；字母按姓名全拼或首字母前缀匹配；"
            "其他按姓名前缀匹配"
        ),
    )
    limit: int = Field(20, ge=1, le=MAX_LIMIT, description=f"每页条数（1–{MAX_LIMIT}）")
    cursor: str | None = Field(None, max_length=64, description="上一页返回的 next 游标")


class MemberFieldsIn(Schema):
    """Plain fields of a member record; all optional."""

    model_config = ConfigDict(extra="forbid")

    mobile: str | None = Field(None, max_length=20, description="手机号（11 位大陆手机号，可带 +86）")
    ethnicity: str | None = Field(None, max_length=16, description="民族")
    education: Education | None = Field(None, description="学历")
    political_status: PoliticalStatus | None = Field(None, description="政治面貌")
    household_type: HouseholdType | None = Field(None, description="户籍类型")
    employment_status: EmploymentStatus | None = Field(None, description="就业状态")
    is_migrant_worker: bool | None = Field(None, description="是否农民工")
    new_employment_group: NewEmploymentGroup | None = Field(None, description="新就业形态群体")
    skill_level: SkillLevel | None = Field(None, description="技能等级")
    workplace: str | None = Field(None, max_length=200, description="工作单位")
    join_date: date | None = Field(None, description="入会日期（默认今天）")
    bank_name: str | None = Field(None, max_length=100, description="开户行")


class MemberCreateIn(MemberFieldsIn):
    org_id: int = Field(..., description="所在工会 ID（须在管辖范围内）")
    name: str = Field(..., min_length=1, max_length=64, description="姓名（与身份证一致）")
    id_number: str = Field(
        ...,
        min_length=1,
        max_length=40,
        description="居民身份证号（18 位；15 位旧号自动升位；全角、空格、小写 x 自动规范化）",
    )
    bank_account: str | None = Field(None, max_length=40, description="银行账号（加密保存，只返回脱敏形式）")


class MemberUpdateIn(MemberFieldsIn):
    name: str | None = Field(None, min_length=1, max_length=64, description="姓名")


class RevealIn(Schema):
    model_config = ConfigDict(extra="forbid")

    field: Literal["id_number", "bank_account"] = Field(..., description="要查看明文的字段")
    reason: str = Field(..., min_length=1, max_length=200, description="查看原因（写入审计日志）")


class RevealOut(Schema):
    field: str = Field(..., description="字段")
    value: str = Field(..., description="明文值")


def _encode_cursor(member_id: int) -> str:
    return base64.urlsafe_b64encode(f"m:{member_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = raw.partition(":")
        if kind != "m" or not value.isdigit():
            raise ValueError(raw)
        return int(value)
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise ApiError(400, "INVALID_CURSOR", "分页游标无效，请从第一页重新开始。") from exc


def _get(request: HttpRequest, member_id: int, perm: Perm) -> Member:
    qs = Member.objects.select_related("org")
    return access.get_object_or_404(current_user(request), qs, perm, pk=member_id)


def _values(payload: MemberFieldsIn, *, exclude: set[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in payload.model_dump(exclude_unset=True, exclude=exclude).items():
        if value is None:
            if key in _REQUIRED:
                raise InvalidValue("MEMBER_FIELD_REQUIRED", f"字段 {key} 不能为空。", field=key)
            value = ""
        values[key] = getattr(value, "value", value)  # enums as their stored code
    return values


@router.get("", response={200: MemberPage, **responses(400, 404)}, operation_id="list_members", summary="会员列表")
def list_members(request: HttpRequest, filters: Query[MemberFilters]) -> dict[str, Any]:
    """列出管辖范围内的会员（脱敏），按 ID 倒序，游标分页。

    Keyset pagination: pass the returned ``next`` as ``cursor`` for the following page.
    """
    user = current_user(request)
    # Ciphertexts are not shown in lists; leave them in the database.
    members = Member.objects.select_related("org").defer("id_number_enc", "bank_account_enc")
    if filters.org is None:
        qs = selectors.visible(user, members, Perm.MEMBER_VIEW)
    else:
        org = access.get_object_or_404(user, Org.objects.all(), Perm.MEMBER_VIEW, pk=filters.org)
        if filters.subtree:
            qs = selectors.visible(user, members, Perm.MEMBER_VIEW, within=org.path)
        else:
            qs = access.scope(user, members, Perm.MEMBER_VIEW).filter(org=org)
    if filters.status is not None:
        qs = qs.filter(status=filters.status)
    if filters.q:
        qs = selectors.search_members(qs, filters.q)
    if filters.cursor:
        qs = qs.filter(pk__lt=_decode_cursor(filters.cursor))
    rows = list(selectors.newest_first(qs)[: filters.limit + 1])
    more = len(rows) > filters.limit
    rows = rows[: filters.limit]
    return {"items": rows, "next": _encode_cursor(rows[-1].pk) if more else None}


@router.get(
    "/{int:member_id}", response={200: MemberOut, **responses(404)}, operation_id="get_member", summary="会员详情"
)
def get_member(request: HttpRequest, member_id: int) -> Member:
    """一个会员的记录（脱敏）；不在管辖范围内时返回 404。"""
    return _get(request, member_id, Perm.MEMBER_VIEW)


@router.post(
    "", response={201: MemberOut, **responses(400, 404, 409)}, operation_id="create_member", summary="新建会员"
)
def create_member(request: HttpRequest, payload: MemberCreateIn) -> Status[Member]:
    """在管辖范围内的工会新建会员档案。

    身份证号有误时返回对应错误代码（如 ID_BAD_CHECK_CHAR 校验位错误、ID_PRECISION_LOSS 疑似被
    Excel 截断）；该身份证号已是会员时返回 409 MEMBER_EXISTS。
    """
    user = current_user(request)
    org = access.get_object_or_404(user, Org.objects.all(), Perm.MEMBER_CHANGE, pk=payload.org_id)
    extra = _values(payload, exclude={"org_id", "name", "id_number", "mobile", "bank_account", "join_date"})
    data = actions.MemberInput(
        name=payload.name,
        id_number=payload.id_number,
        mobile=payload.mobile or "",
        join_date=payload.join_date,
        extra=extra,
        bank_account=payload.bank_account or "",
    )
    member = actions.create_member(actor=user, org=org, data=data)
    return Status(201, _get(request, member.pk, Perm.MEMBER_VIEW))


@router.patch(
    "/{int:member_id}",
    response={200: MemberOut, **responses(400, 404)},
    operation_id="update_member",
    summary="修改会员信息",
)
def update_member(request: HttpRequest, member_id: int, payload: MemberUpdateIn) -> Member:
    """只修改请求中给出的字段；可清空的字段给 null 表示清空。身份证号不能通过此接口修改。"""
    member = _get(request, member_id, Perm.MEMBER_CHANGE)
    actions.update_member(actor=current_user(request), member=member, values=_values(payload, exclude=set()))
    return _get(request, member_id, Perm.MEMBER_VIEW)


@router.post(
    "/{int:member_id}/reveal",
    response={200: RevealOut, **responses(400, 404)},
    operation_id="reveal_member_pii",
    summary="查看身份证号或银行账号明文",
)
def reveal_member_pii(request: HttpRequest, response: HttpResponse, member_id: int, payload: RevealIn) -> RevealOut:
    """返回一个字段的明文，并写入审计日志（谁、何时、从何处、为何查看）。

    需要查看明文的权限（主席、管理员）；没有权限与不在管辖范围内一样返回 404。
    """
    member = _get(request, member_id, Perm.MEMBER_VIEW)
    reason = payload.reason.strip()
    if not reason:
        raise InvalidValue("REVEAL_REASON_REQUIRED", "请填写查看原因。")
    value = actions.reveal_pii(actor=current_user(request), member=member, field_name=payload.field, reason=reason)
    # Plaintext personal data: no browser or proxy may keep a copy.
    response["Cache-Control"] = "no-store"
    return RevealOut(field=payload.field, value=value)
