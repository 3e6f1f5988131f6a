"""``/api/v1/me/messages`` (the caller's own inbox) and ``/api/v1/broadcasts`` (cadres).

The inbox endpoints serve any logged-in account — members and applicants use them from
the portal session — so they use ``AccountSessionAuth`` instead of the API's default
cadre-with-TOTP one. Broadcasts keep the default: only cadres send, and a union outside
the caller's subtree is a 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from gonghui.api.auth import AccountSessionAuth, caller_member, current_user
from gonghui.api.errors import ApiError, responses
from gonghui.core import access
from gonghui.core.access import Perm
from gonghui.core.models import User
from gonghui.inbox import actions, selectors
from gonghui.inbox.models import Broadcast, BroadcastStatus, Message, MessageKind
from gonghui.members.models import EmploymentStatus, Member, MemberStatus, NewEmploymentGroup
from gonghui.orgs.models import Org

MAX_LIMIT = 100


me_router = Router(tags=["消息 messages"], auth=AccountSessionAuth())
broadcast_router = Router(tags=["消息 messages"])


def _account(request: HttpRequest) -> tuple[User, Member | None]:
    user = getattr(request, "auth", None)
    if not isinstance(user, User):
        raise ApiError(401, "AUTH_REQUIRED", "请先登录")
    return user, caller_member(request)


class MessageOut(Schema):
    id: int = Field(..., description="消息 ID")
    kind: MessageKind = Field(
        ...,
        description=("类型：application 入会申请、transfer 转会、membership 会籍、notice 通知公告、system 系统消息"),
    )
    title: str = Field(..., description="标题")
    body: str = Field(..., description="正文（群发消息的正文取自群发记录）")
    link: str = Field(..., description="相关页面的链接（可为空）")
    sender_org_id: int | None = Field(None, description="发送工会 ID")
    sender_org_name: str = Field("", description="发送工会名称")
    broadcast_id: int | None = Field(None, description="所属群发 ID")
    created_at: datetime = Field(..., description="发送时间")
    read_at: datetime | None = Field(None, description="阅读时间；为空表示未读")

    @staticmethod
    def of(message: Message) -> MessageOut:
        return MessageOut(
            id=message.pk,
            kind=MessageKind(message.kind),
            title=message.title,
            body=message.text,
            link=message.link,
            sender_org_id=message.sender_id,
            sender_org_name=message.sender.name if message.sender is not None else "",
            broadcast_id=message.broadcast_id,
            created_at=message.created_at,
            read_at=message.read_at,
        )


class MessagePage(Schema):
    count: int = Field(..., description="消息总数")
    unread: int = Field(..., description="未读消息数")
    items: list[MessageOut] = Field(..., description="本页消息，新消息在前")


class PageQuery(Schema):
    limit: int = Field(20, ge=1, le=MAX_LIMIT, description="每页条数（1–100）")
    offset: int = Field(0, ge=0, description="跳过的条数")
    unread_only: bool = Field(False, description="只看未读")


@me_router.get(
    "", response={200: MessagePage, **responses()}, operation_id="list_my_messages", summary="我的消息（含未读数）"
)
def list_my_messages(request: HttpRequest, q: Query[PageQuery]) -> MessagePage:
    """当前账号的消息：会员档案和账号本身（入会申请人）收到的消息都在内，新消息在前。

    The caller's messages — to their member record and to their account — newest first.
    """
    user, member = _account(request)
    qs = selectors.inbox_for(user, member)
    if q.unread_only:
        qs = qs.filter(read_at__isnull=True)
    items = [MessageOut.of(m) for m in qs[q.offset : q.offset + q.limit]]
    return MessagePage(count=qs.count(), unread=selectors.unread_count(user, member), items=items)


@me_router.post(
    "/{message_id}/read",
    response={200: MessageOut, **responses(404)},
    operation_id="read_my_message",
    summary="标记一条消息为已读",
)
def read_my_message(request: HttpRequest, message_id: int) -> MessageOut:
    """把自己的一条消息标为已读（已读的不变）。别人的消息返回 404。"""
    user, member = _account(request)
    message = selectors.inbox_for(user, member).filter(pk=message_id).first()
    if message is None:
        raise ApiError(404, "NOT_FOUND", "对象不存在")
    return MessageOut.of(actions.mark_read(user=user, message=message))


class ReadAllOut(Schema):
    marked: int = Field(..., description="本次标为已读的条数")


@me_router.post(
    "/read-all", response={200: ReadAllOut, **responses()}, operation_id="read_all_my_messages", summary="全部已读"
)
def read_all_my_messages(request: HttpRequest) -> ReadAllOut:
    user, member = _account(request)
    return ReadAllOut(marked=actions.mark_all_read(user=user, member=member))


# --- broadcasts (cadres) ------------------------------------------------------------------


class FiltersIn(Schema):
    org_id: int | None = Field(None, description="只发给这个下级工会（须在发送工会的下级范围内）")
    status: list[MemberStatus] = Field(default_factory=list, description="会籍状态：active、retained；空为不限")
    employment_status: list[EmploymentStatus] = Field(default_factory=list, description="就业状态；空为不限")
    new_employment_group: list[NewEmploymentGroup] = Field(default_factory=list, description="新就业形态群体；空为不限")

    def as_filters(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "status": [s.value for s in self.status],
            "employment_status": [s.value for s in self.employment_status],
            "new_employment_group": [s.value for s in self.new_employment_group],
        }
        if self.org_id is not None:
            data["org_id"] = self.org_id
        return {k: v for k, v in data.items() if v}


class BroadcastIn(Schema):
    org_id: int = Field(..., description="发送工会 ID（需有该组织的管理权限）")
    title: str = Field(..., max_length=200, description="标题")
    body: str = Field(..., max_length=5000, description="正文")
    filters: FiltersIn | None = Field(None, description="发送范围筛选；不填为不限")
    send_sms: bool = Field(False, description="同时给有手机号的会员发短信（每人最多一条）")


class BroadcastOut(Schema):
    id: int = Field(..., description="群发 ID")
    org_id: int = Field(..., description="发送工会 ID")
    title: str = Field(..., description="标题")
    status: BroadcastStatus = Field(
        ..., description="状态：queued 排队中、running 发送中、done 已完成、failed 发送失败"
    )
    total: int = Field(..., description="应发人数（发送时统计）")
    sent: int = Field(..., description="已发人数")
    percent: int = Field(..., description="进度百分比")
    send_sms: bool = Field(..., description="是否同时发短信")
    sms_sent: int = Field(..., description="短信成功条数")
    sms_failed: int = Field(..., description="短信失败条数")
    filters: dict[str, Any] = Field(..., description="发送范围筛选")
    notice_id: int | None = Field(None, description="关联的通知公告 ID")
    created_at: datetime = Field(..., description="创建时间")
    started_at: datetime | None = Field(None, description="开始发送时间")
    finished_at: datetime | None = Field(None, description="完成时间")

    @staticmethod
    def of(b: Broadcast) -> BroadcastOut:
        return BroadcastOut(
            id=b.pk,
            org_id=b.org_id,
            title=b.title,
            status=BroadcastStatus(b.status),
            total=b.total,
            sent=b.sent,
            percent=b.percent,
            send_sms=b.send_sms,
            sms_sent=b.sms_sent,
            sms_failed=b.sms_failed,
            filters=b.filters,
            notice_id=b.notice_id,
            created_at=b.created_at,
            started_at=b.started_at,
            finished_at=b.finished_at,
        )


@broadcast_router.post(
    "",
    response={201: BroadcastOut, **responses(400, 404)},
    operation_id="create_broadcast",
    summary="群发通知到会员消息中心",
)
def create_broadcast(request: HttpRequest, payload: BroadcastIn) -> Status[BroadcastOut]:
    """向发送工会及其下级（可按下级工会、会籍状态、就业状态、新就业形态群体筛选）的会员群发消息。
    后台分批发送，用 `GET /api/v1/broadcasts/{id}` 查看进度；同一会员不会重复收到。

    Errors: `BROADCAST_NO_RECIPIENTS`, `BROADCAST_BAD_FILTER`, `BROADCAST_ORG_OUTSIDE`,
    `BROADCAST_TEXT_REQUIRED` (400); a union outside the caller's subtree → 404.
    """
    user = current_user(request)
    org = access.get_object_or_404(user, Org.objects.all(), Perm.ORG_CHANGE, pk=payload.org_id)
    broadcast = actions.send_broadcast(
        user,
        org,
        payload.title,
        payload.body,
        payload.filters.as_filters() if payload.filters else {},
        send_sms=payload.send_sms,
    )
    broadcast.refresh_from_db()
    return Status(201, BroadcastOut.of(broadcast))


@broadcast_router.get(
    "/{broadcast_id}",
    response={200: BroadcastOut, **responses(404)},
    operation_id="get_broadcast",
    summary="群发进度",
)
def get_broadcast(request: HttpRequest, broadcast_id: int) -> BroadcastOut:
    """一次群发的状态与进度（已发 / 应发）。管辖范围以外返回 404。"""
    user = current_user(request)
    return BroadcastOut.of(access.get_object_or_404(user, Broadcast.objects.all(), Perm.ORG_VIEW, pk=broadcast_id))
