"""``/api/v1/activities``: the generic activity endpoints every kind plugs into.

Organisers (the API's default cadre-with-TOTP auth, scoped through
``activities.selectors`` / ``core.access``; another subtree's activity is 404): list,
create, read, edit, publish, close early, archive, participation figures, the named
audience list. Members (their portal session): "activities for me", an activity's public
page with the "am I eligible?" answer for the caller, and "my activities".

Each kind adds its own member and organiser actions in ``gonghui.api.activity_<key>``
(a Ninja ``router`` mounted beside this one at ``/api/v1/activities/``).
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
from datetime import date, datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from pydantic import ConfigDict

from gonghui.activities import actions, eligibility, registry, selectors
from gonghui.activities.eligibility import Eligibility
from gonghui.activities.models import Activity, ActivityState, ActivityStatus, AudienceMember, Participation
from gonghui.api.auth import AccountSessionAuth, caller_member, current_user, optional_auth
from gonghui.api.errors import ApiError, responses
from gonghui.core import access, pii
from gonghui.core.access import Perm
from gonghui.core.errors import DomainError
from gonghui.core.mobiles import MobileError, normalize_mobile
from gonghui.members import selectors as member_selectors
from gonghui.members.models import Member, MemberStatus
from gonghui.orgs.models import Org

MAX_LIMIT = 100
AUDIENCE_LIST_MAX = 20000

router = Router(tags=["活动 activities"])
member_auth = AccountSessionAuth()


# --- schemas ------------------------------------------------------------------------------


class EligibilityOut(Schema):
    ok: bool = Field(..., description="现在能否参加")
    code: str = Field(
        "",
        description=(
            "不能参加的原因代码：NOT_A_MEMBER 未登录或不是会员；ACTIVITY_NOT_STARTED 未开始；ACTIVITY_ENDED 已结束；"
            "AUDIENCE_OUTSIDE 不在主办工会范围内；MEMBER_NOT_ACTIVE 会籍不是正常或保留状态；AUDIENCE_RETAINED "
            "保留会籍不参加；AUDIENCE_VERIFIED_ONLY 仅限实名会员；AUDIENCE_GROUP / AUDIENCE_INDUSTRY / "
            "AUDIENCE_TAG 不在限定的群体、行业、工会标签内；AUDIENCE_LIST 不在指定名单内；以及各活动类型自己的代码"
            "（如已投过票）"
        ),
    )
    reason: str = Field("", description="中文原因，可直接展示给会员")


class ActivityOut(Schema):
    """The organiser's view of an activity."""

    id: int = Field(..., description="活动 ID")
    kind: str = Field(..., description="活动类型代码（vote、survey、signup、lottery、quiz、rush）")
    kind_label: str = Field(..., description="活动类型名称")
    org_id: int = Field(..., description="主办工会 ID")
    org_name: str = Field(..., description="主办工会名称")
    title: str = Field(..., description="标题")
    summary: str = Field(..., description="简介")
    description: str = Field(..., description="活动详情（已净化的 HTML）")
    rules: str = Field(..., description="活动规则（纯文本）")
    cover_url: str = Field("", description="封面图地址（无封面时为空）")
    starts_at: datetime = Field(..., description="开始时间")
    ends_at: datetime = Field(..., description="结束时间")
    status: str = Field(
        ..., description="主办方设定的状态：draft 草稿、published 已发布、closed 已结束、archived 已归档"
    )
    state: str = Field(
        ..., description="当前状态：draft 草稿、published 未开始、open 进行中、closed 已结束、archived 已归档"
    )
    state_label: str = Field(..., description="当前状态的中文名称")
    audience_industries: list[str] = Field(..., description="限定行业（空为不限）")
    audience_groups: list[str] = Field(..., description="限定新就业形态群体代码（空为不限）")
    audience_tags: list[str] = Field(..., description="限定工会标签（空为不限）")
    verified_only: bool = Field(..., description="仅限已实名认证的会员")
    exclude_retained: bool = Field(..., description="保留会籍的会员不参加")
    member_list_only: bool = Field(..., description="仅限指定名单内的会员")
    settings: dict[str, Any] = Field(..., description="活动类型自己的设置")
    published_at: datetime | None = Field(None, description="发布时间")
    closed_at: datetime | None = Field(None, description="结束时间（提前结束或到期）")
    finalised_at: datetime | None = Field(None, description="结果生成时间（开奖、计票等收尾完成）")
    created_at: datetime = Field(..., description="创建时间")

    @staticmethod
    def of(activity: Activity) -> ActivityOut:
        return ActivityOut(
            id=activity.pk,
            kind=activity.kind,
            kind_label=_kind_label(activity.kind),
            org_id=activity.org_id,
            org_name=activity.org.name,
            title=activity.title,
            summary=activity.summary,
            description=activity.description,
            rules=activity.rules,
            cover_url=activity.cover.url if activity.cover else "",
            starts_at=activity.starts_at,
            ends_at=activity.ends_at,
            status=activity.status,
            state=activity.state,
            state_label=activity.state_label,
            audience_industries=list(activity.audience_industries),
            audience_groups=list(activity.audience_groups),
            audience_tags=list(activity.audience_tags),
            verified_only=activity.verified_only,
            exclude_retained=activity.exclude_retained,
            member_list_only=activity.member_list_only,
            settings=dict(activity.settings),
            published_at=activity.published_at,
            closed_at=activity.closed_at,
            finalised_at=activity.finalised_at,
            created_at=activity.created_at,
        )


class ActivityPage(Schema):
    items: list[ActivityOut] = Field(..., description="活动列表")
    next: str | None = Field(None, description="下一页游标：作为 cursor 参数传回；为空表示没有更多")


class ActivityFilters(Schema):
    kind: str | None = Field(None, max_length=16, description="按活动类型筛选")
    state: ActivityState | None = Field(None, description="按当前状态筛选")
    org: int | None = Field(None, description="只列出该工会（及其下级）主办的活动；须在管辖范围内，否则 404")
    q: str | None = Field(None, max_length=50, description="按标题包含的文字筛选")
    limit: int = Field(20, ge=1, le=MAX_LIMIT, description=f"每页条数（1–{MAX_LIMIT}）")
    cursor: str | None = Field(None, max_length=64, description="上一页返回的 next 游标")


class _Fields(Schema):
    summary: str | None = Field(None, max_length=200, description="简介")
    description: str | None = Field(
        None, max_length=50000, description="活动详情（HTML；只保留段落、加粗、列表、标题、链接和图片）"
    )
    rules: str | None = Field(None, max_length=5000, description="活动规则（纯文本）")
    audience_industries: list[str] | None = Field(None, description="限定行业（空列表为不限）")
    audience_groups: list[str] | None = Field(None, description="限定新就业形态群体代码（空列表为不限）")
    audience_tags: list[str] | None = Field(None, description="限定工会标签（空列表为不限）")
    verified_only: bool | None = Field(None, description="仅限已实名认证的会员")
    exclude_retained: bool | None = Field(None, description="保留会籍的会员不参加")
    member_list_only: bool | None = Field(None, description="仅限指定名单内的会员（名单用 audience-list 接口设置）")
    settings: dict[str, Any] | None = Field(None, description="活动类型自己的设置（按类型的设置表单校验）")


class ActivityCreateIn(_Fields):
    model_config = ConfigDict(extra="forbid")

    org_id: int = Field(..., description="主办工会 ID（须在管辖范围内）")
    kind: str = Field(..., max_length=16, description="活动类型代码")
    title: str = Field(..., min_length=1, max_length=120, description="标题")
    starts_at: datetime = Field(..., description="开始时间（ISO 8601，带时区）")
    ends_at: datetime = Field(..., description="结束时间（须晚于开始时间）")


class ActivityPatchIn(_Fields):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, min_length=1, max_length=120, description="标题")
    starts_at: datetime | None = Field(None, description="开始时间（活动开始后不能修改）")
    ends_at: datetime | None = Field(None, description="结束时间")


class CloseIn(Schema):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(..., min_length=1, max_length=200, description="提前结束的原因（写入审计日志）")


class SuborgCount(Schema):
    path: str = Field(..., description="下级工会的组织路径")
    name: str = Field(..., description="下级工会名称（主办工会本级注明“本级”）")
    count: int = Field(..., description="参与人数")


class DayCount(Schema):
    date: _dt.date = Field(..., description="日期（北京时间）")
    count: int = Field(..., description="当天新增参与人数")


class StatsOut(Schema):
    participants: int = Field(..., description="参与人数（每人只计一次）")
    by_suborg: list[SuborgCount] = Field(..., description="按主办工会的直属下级工会统计，人数多的在前")
    by_day: list[DayCount] = Field(..., description="按日期统计")


class AudienceListIn(Schema):
    model_config = ConfigDict(extra="forbid")

    card_numbers: list[str] = Field(default_factory=list, max_length=AUDIENCE_LIST_MAX, description="会员卡号")
    mobiles: list[str] = Field(default_factory=list, max_length=AUDIENCE_LIST_MAX, description="手机号")


class AudienceListQuery(Schema):
    limit: int = Field(100, ge=1, le=1000, description="最多返回多少人（1–1000）")


class AudienceMemberOut(Schema):
    member_id: int = Field(..., description="会员 ID")
    name: str = Field(..., description="姓名")
    card_number: str = Field("", description="会员卡号")
    mobile_masked: str = Field("", description="手机号（脱敏）")
    org_name: str = Field(..., description="所在工会")


class AudienceListOut(Schema):
    total: int = Field(..., description="名单人数")
    items: list[AudienceMemberOut] = Field(..., description="名单（按会员 ID，最多 limit 人）")
    not_found: list[str] = Field(default_factory=list, description="找不到对应在册会员的卡号或手机号（仅设置时返回）")


class PublicActivityOut(Schema):
    """What a member (or anyone with the link) sees of an activity."""

    id: int = Field(..., description="活动 ID")
    kind: str = Field(..., description="活动类型代码")
    kind_label: str = Field(..., description="活动类型名称")
    org_id: int = Field(..., description="主办工会 ID")
    org_name: str = Field(..., description="主办工会名称")
    title: str = Field(..., description="标题")
    summary: str = Field(..., description="简介")
    description: str = Field("", description="活动详情（已净化的 HTML）")
    rules: str = Field("", description="活动规则")
    cover_url: str = Field("", description="封面图地址")
    starts_at: datetime = Field(..., description="开始时间")
    ends_at: datetime = Field(..., description="结束时间")
    state: str = Field(..., description="当前状态：published 未开始、open 进行中、closed 已结束")
    state_label: str = Field(..., description="当前状态的中文名称")
    participated: bool = Field(False, description="调用者是否已参加")
    eligibility: EligibilityOut = Field(..., description="调用者现在能否参加，及原因")

    @staticmethod
    def of(activity: Activity, *, answer: Eligibility, participated: bool, full: bool) -> PublicActivityOut:
        return PublicActivityOut(
            id=activity.pk,
            kind=activity.kind,
            kind_label=_kind_label(activity.kind),
            org_id=activity.org_id,
            org_name=activity.org.name,
            title=activity.title,
            summary=activity.summary,
            description=activity.description if full else "",
            rules=activity.rules if full else "",
            cover_url=activity.cover.url if activity.cover else "",
            starts_at=activity.starts_at,
            ends_at=activity.ends_at,
            state=activity.state,
            state_label=activity.state_label,
            participated=participated,
            eligibility=EligibilityOut(ok=answer.ok, code=answer.code, reason=answer.reason),
        )


class MyParticipationOut(Schema):
    activity_id: int = Field(..., description="活动 ID")
    kind: str = Field(..., description="活动类型代码")
    kind_label: str = Field(..., description="活动类型名称")
    title: str = Field(..., description="活动标题")
    org_name: str = Field(..., description="主办工会")
    state: str = Field(..., description="活动当前状态")
    state_label: str = Field(..., description="活动当前状态的中文名称")
    on_date: date = Field(..., description="参加日期")


# --- helpers ------------------------------------------------------------------------------


def _kind_label(key: str) -> str:
    try:
        return str(registry.get(key).label)
    except DomainError:
        return key


def _encode_cursor(pk: int) -> str:
    return base64.urlsafe_b64encode(f"act:{pk}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = raw.partition(":")
        if kind != "act" or not value.isdigit():
            raise ValueError(raw)
        return int(value)
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise ApiError(400, "INVALID_CURSOR", "分页游标无效，请从第一页重新开始。") from exc


def _get(request: HttpRequest, activity_id: int, perm: Perm = Perm.ACTIVITY_VIEW) -> Activity:
    return selectors.get_for_cadre(current_user(request), activity_id, perm)


def _values(payload: Schema) -> dict[str, Any]:
    data = payload.dict(exclude_unset=True)
    return {k: v for k, v in data.items() if k in actions.FIELDS and v is not None}


def _caller_member(request: HttpRequest) -> Member | None:
    return member_selectors.of_account(getattr(request, "auth", None) or getattr(request, "user", None))


def _member_or_401(request: HttpRequest) -> Member | None:
    return caller_member(request)


def _state_filter(qs: Any, state: str) -> Any:
    from django.db.models import Q
    from django.utils import timezone

    now = timezone.now()
    published = Q(status=ActivityStatus.PUBLISHED)
    return {
        ActivityState.DRAFT: lambda: qs.filter(status=ActivityStatus.DRAFT),
        ActivityState.PUBLISHED: lambda: qs.filter(published, starts_at__gt=now),
        ActivityState.OPEN: lambda: qs.filter(published, starts_at__lte=now, ends_at__gt=now),
        ActivityState.CLOSED: lambda: qs.filter(Q(status=ActivityStatus.CLOSED) | (published & Q(ends_at__lte=now))),
        ActivityState.ARCHIVED: lambda: qs.filter(status=ActivityStatus.ARCHIVED),
    }[ActivityState(state)]()


# --- member endpoints (before /{id}: literal paths win) -----------------------------------


@router.get(
    "/for-me",
    auth=member_auth,
    response={200: list[PublicActivityOut], **responses()},
    operation_id="activities_for_me",
    summary="面向我的活动（会员）",
)
def activities_for_me(request: HttpRequest) -> list[PublicActivityOut]:
    """调用者（会员）所在工会及上级工会发布的、参与范围包括调用者的活动，附“能否参加”及原因。

    账号没有关联会员档案时返回空列表。Activities whose audience includes the caller.
    """
    member = _member_or_401(request)
    if member is None:
        return []
    found = selectors.for_member(member)
    mine = selectors.participated_ids(member, [a.pk for a in found])
    return [
        PublicActivityOut.of(a, answer=eligibility.check(a, member), participated=a.pk in mine, full=False)
        for a in found
    ]


@router.get(
    "/mine",
    auth=member_auth,
    response={200: list[MyParticipationOut], **responses()},
    operation_id="my_activities",
    summary="我参加过的活动（会员）",
)
def my_activities(request: HttpRequest) -> list[MyParticipationOut]:
    """调用者参加过的活动，最近的在前（最多 100 条）。"""
    member = _member_or_401(request)
    if member is None:
        return []
    return [
        MyParticipationOut(
            activity_id=p.activity_id,
            kind=p.activity.kind,
            kind_label=_kind_label(p.activity.kind),
            title=p.activity.title,
            org_name=p.activity.org.name,
            state=p.activity.state,
            state_label=p.activity.state_label,
            on_date=p.on_date,
        )
        for p in selectors.my_participations(member)[:100]
    ]


@router.get(
    "/{int:activity_id}",
    auth=optional_auth,
    response={200: PublicActivityOut, **responses(404)},
    operation_id="get_activity_public",
    summary="活动详情及我能否参加（会员、公众）",
)
def get_activity_public(request: HttpRequest, activity_id: int) -> PublicActivityOut:
    """已发布或已结束的活动，附调用者“能否参加”的答案及原因（未登录时为 `NOT_A_MEMBER`）。

    不在参与范围内的会员同样能看到活动，`eligibility` 说明原因；草稿和已归档的活动返回 404。
    主办方的完整信息（含草稿）见 `GET /api/v1/activities/{id}/organiser`。
    """
    activity = selectors.get_public(activity_id)
    if activity is None:
        raise ApiError(404, "NOT_FOUND", "对象不存在")
    member = _caller_member(request)
    answer = eligibility.check(activity, member)
    participated = member is not None and Participation.objects.filter(activity=activity, member=member).exists()
    return PublicActivityOut.of(activity, answer=answer, participated=participated, full=True)


# --- organiser endpoints ------------------------------------------------------------------


@router.get(
    "",
    response={200: ActivityPage, **responses(400, 404)},
    operation_id="list_activities",
    summary="活动列表（管辖范围内）",
)
def list_activities(request: HttpRequest, filters: Query[ActivityFilters]) -> dict[str, Any]:
    """管辖范围内各级工会主办的活动，按 ID 倒序，游标分页。"""
    user = current_user(request)
    qs = selectors.for_cadre(user)
    if filters.org is not None:
        org = access.get_object_or_404(user, Org.objects.all(), Perm.ACTIVITY_VIEW, pk=filters.org)
        qs = qs.filter(org_path__startswith=org.path)
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    if filters.state is not None:
        qs = _state_filter(qs, filters.state)
    if filters.q:
        qs = qs.filter(title__icontains=filters.q.strip())
    if filters.cursor:
        qs = qs.filter(pk__lt=_decode_cursor(filters.cursor))
    rows = list(qs.order_by("-pk")[: filters.limit + 1])
    more = len(rows) > filters.limit
    rows = rows[: filters.limit]
    return {"items": [ActivityOut.of(a) for a in rows], "next": _encode_cursor(rows[-1].pk) if more else None}


@router.post(
    "",
    response={201: ActivityOut, **responses(400, 404, 409)},
    operation_id="create_activity",
    summary="新建活动（草稿）",
)
def create_activity(request: HttpRequest, payload: ActivityCreateIn) -> Status[ActivityOut]:
    """在主办工会下新建一个草稿活动。需要活动管理权限（主席、管理员、工作人员），否则 404。

    错误代码：`ACTIVITY_KIND_UNKNOWN` 未知类型；`ACTIVITY_TITLE_REQUIRED`；`ACTIVITY_WINDOW_ORDER`
    结束时间不晚于开始时间；`ACTIVITY_AUDIENCE_GROUP` 未知群体；`ACTIVITY_SETTINGS_INVALID`
    活动设置有误（`details.field` 指出字段）；`ORG_CLOSED` 工会已撤销（409）。
    """
    user = current_user(request)
    org: Org = access.get_object_or_404(user, Org.objects.all(), Perm.ACTIVITY_MANAGE, pk=payload.org_id)
    values = _values(payload)
    values.update(title=payload.title, starts_at=payload.starts_at, ends_at=payload.ends_at)
    activity = actions.create_activity(
        actor=user, org=org, kind=payload.kind, values=values, settings=payload.settings or {}
    )
    return Status(201, ActivityOut.of(_get(request, activity.pk)))


@router.get(
    "/{int:activity_id}/organiser",
    response={200: ActivityOut, **responses(404)},
    operation_id="get_activity",
    summary="活动详情（主办方）",
)
def get_activity(request: HttpRequest, activity_id: int) -> ActivityOut:
    """主办方看到的完整活动信息（含草稿、参与范围和活动设置）；不在管辖范围内时返回 404。"""
    return ActivityOut.of(_get(request, activity_id))


@router.patch(
    "/{int:activity_id}",
    response={200: ActivityOut, **responses(400, 404, 409)},
    operation_id="update_activity",
    summary="修改活动",
)
def update_activity(request: HttpRequest, activity_id: int, payload: ActivityPatchIn) -> ActivityOut:
    """只修改请求中给出的字段。活动开始后，开始时间、参与范围和活动设置不能再修改
    （`409 ACTIVITY_OPEN_FROZEN`，`details.fields` 列出字段）；结束后不能修改（`409 ACTIVITY_ENDED`）。"""
    activity = _get(request, activity_id, Perm.ACTIVITY_MANAGE)
    actions.update_activity(
        actor=current_user(request), activity=activity, values=_values(payload), settings=payload.settings
    )
    return ActivityOut.of(_get(request, activity_id))


@router.post(
    "/{int:activity_id}/publish",
    response={200: ActivityOut, **responses(404, 409)},
    operation_id="publish_activity",
    summary="发布活动",
)
def publish_activity(request: HttpRequest, activity_id: int) -> ActivityOut:
    """发布草稿活动。错误代码：`ACTIVITY_NOT_DRAFT`（409）；`ACTIVITY_WINDOW_PAST` 结束时间已过（409）；
    以及活动类型自己的检查（如没有候选人、没有奖品）。"""
    activity = _get(request, activity_id, Perm.ACTIVITY_MANAGE)
    actions.publish_activity(actor=current_user(request), activity=activity)
    return ActivityOut.of(_get(request, activity_id))


@router.post(
    "/{int:activity_id}/close",
    response={200: ActivityOut, **responses(404, 409)},
    operation_id="close_activity",
    summary="提前结束活动",
)
def close_activity(request: HttpRequest, activity_id: int, payload: CloseIn) -> ActivityOut:
    """立即结束已发布的活动并生成结果（开奖、计票等只运行一次）。`ACTIVITY_NOT_PUBLISHED`（409）。"""
    activity = _get(request, activity_id, Perm.ACTIVITY_MANAGE)
    actions.close_activity(actor=current_user(request), activity=activity, reason=payload.reason)
    return ActivityOut.of(_get(request, activity_id))


@router.post(
    "/{int:activity_id}/archive",
    response={200: ActivityOut, **responses(404, 409)},
    operation_id="archive_activity",
    summary="归档活动",
)
def archive_activity(request: HttpRequest, activity_id: int) -> ActivityOut:
    """归档已结束的活动（或放弃的草稿）；会员端不再显示。`ACTIVITY_NOT_CLOSED`（409）。"""
    activity = _get(request, activity_id, Perm.ACTIVITY_MANAGE)
    actions.archive_activity(actor=current_user(request), activity=activity)
    return ActivityOut.of(_get(request, activity_id))


@router.get(
    "/{int:activity_id}/stats",
    response={200: StatsOut, **responses(404)},
    operation_id="activity_stats",
    summary="参与统计（按下级工会、按日期）",
)
def activity_stats(request: HttpRequest, activity_id: int) -> StatsOut:
    """参与人数，按主办工会的直属下级工会和按日期统计（参与记录只有日期，没有时刻）。"""
    activity = _get(request, activity_id)
    return StatsOut(
        participants=selectors.participation_count(activity),
        by_suborg=[SuborgCount(**row) for row in selectors.participation_by_suborg(activity)],
        by_day=[
            DayCount(date=date.fromisoformat(row["date"]), count=row["count"])
            for row in selectors.participation_by_day(activity)
        ],
    )


def _audience_out(activity: Activity, limit: int, not_found: list[str] | None = None) -> AudienceListOut:
    listed = AudienceMember.objects.filter(activity=activity)
    rows = listed.select_related("member", "member__org").order_by("member_id")[:limit]
    return AudienceListOut(
        total=listed.count(),
        items=[
            AudienceMemberOut(
                member_id=r.member_id,
                name=r.member.name,
                card_number=r.member.card_number or "",
                mobile_masked=pii.mask_mobile(r.member.mobile) if r.member.mobile else "",
                org_name=r.member.org.name,
            )
            for r in rows
        ],
        not_found=not_found or [],
    )


@router.get(
    "/{int:activity_id}/audience-list",
    response={200: AudienceListOut, **responses(404)},
    operation_id="get_audience_list",
    summary="指定名单",
)
def get_audience_list(request: HttpRequest, activity_id: int, query: Query[AudienceListQuery]) -> AudienceListOut:
    """“仅限指定名单”活动的名单（手机号脱敏）。需要活动管理权限。"""
    return _audience_out(_get(request, activity_id, Perm.ACTIVITY_MANAGE), query.limit)


@router.put(
    "/{int:activity_id}/audience-list",
    response={200: AudienceListOut, **responses(400, 404, 409)},
    operation_id="set_audience_list",
    summary="设置指定名单",
)
def set_audience_list(request: HttpRequest, activity_id: int, payload: AudienceListIn) -> AudienceListOut:
    """用会员卡号和/或手机号替换名单；只能是主办工会及其下级的在册会员。

    有任何一项找不到时名单不变，返回 `400 AUDIENCE_LIST_NOT_FOUND`（`details.not_found` 列出前 100 项）。
    活动开始后不能修改（`409 ACTIVITY_OPEN_FROZEN`）。
    """
    activity = _get(request, activity_id, Perm.ACTIVITY_MANAGE)
    base = Member.objects.filter(
        org_path__startswith=activity.org_path, status__in=(MemberStatus.ACTIVE, MemberStatus.RETAINED)
    )
    cards = {c.strip().upper(): c for c in payload.card_numbers if c.strip()}
    mobiles: dict[str, str] = {}
    bad: list[str] = []
    for raw in payload.mobiles:
        try:
            mobiles[normalize_mobile(raw)] = raw
        except MobileError:
            bad.append(raw)
    found: dict[int, Member] = {}
    seen_cards: set[str] = set()
    seen_mobiles: set[str] = set()
    for m in base.filter(card_number__in=list(cards)) if cards else []:
        found[m.pk] = m
        seen_cards.add(str(m.card_number))
    for m in base.filter(mobile__in=list(mobiles)) if mobiles else []:
        found[m.pk] = m
        seen_mobiles.add(m.mobile)
    missing = bad + [raw for key, raw in cards.items() if key not in seen_cards]
    missing += [raw for key, raw in mobiles.items() if key not in seen_mobiles]
    if missing:
        raise ApiError(
            400,
            "AUDIENCE_LIST_NOT_FOUND",
            f"有 {len(missing)} 项找不到主办工会范围内的在册会员，名单未修改。",
            not_found=missing[:100],
        )
    actions.set_audience_members(actor=current_user(request), activity=activity, members=list(found.values()))
    return _audience_out(activity, 100)
