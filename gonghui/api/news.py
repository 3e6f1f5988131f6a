"""``/api/v1/me/news`` (members) and ``/api/v1/news`` (cadres): news (资讯).

Members (portal session): their feed — own union's and every ancestor's published news,
pinned first then newest, by tag — an item (opening it starts the reading clock and
counts the reader once), and "read complete", which pays the reading rule once after the
minimum reading time (``409 NEWS_READ_TOO_SOON`` with ``details.wait_seconds`` before).
Cadres (TOTP session, ``Perm.NEWS_PUBLISH``): list, compose, edit, publish (now or
scheduled), withdraw, pin; another subtree's item is 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from gonghui.api.auth import AccountSessionAuth, current_user, require_member
from gonghui.api.errors import ApiError, responses
from gonghui.api.paging import PageMeta, paginate
from gonghui.core import access
from gonghui.core.access import Perm
from gonghui.members.models import Member
from gonghui.news import actions, selectors
from gonghui.news.models import NewsItem
from gonghui.orgs.models import Org
from gonghui.points import rules

MAX_PAGE_SIZE = 50

me_router = Router(tags=["资讯 news"], auth=AccountSessionAuth())
router = Router(tags=["资讯 news"])


# --- schemas ------------------------------------------------------------------------------


class NewsSummaryOut(Schema):
    id: int = Field(..., description="资讯 ID")
    org_id: int = Field(..., description="发布工会 ID")
    org_name: str = Field(..., description="发布工会名称")
    title: str = Field(..., description="标题")
    summary: str = Field(..., description="摘要")
    cover_url: str = Field("", description="封面图地址（无封面为空）")
    tags: list[str] = Field(..., description="标签")
    pinned: bool = Field(..., description="是否置顶")
    published_at: datetime | None = Field(None, description="发布时间（将来的时间为定时发布）")
    read_count: int = Field(..., description="阅读人数（不重复计人）")
    read: bool = Field(False, description="调用者是否读过（会员接口）")

    @staticmethod
    def of(news: NewsItem, read: bool = False) -> NewsSummaryOut:
        return NewsSummaryOut(
            id=news.pk,
            org_id=news.org_id,
            org_name=news.org.name,
            title=news.title,
            summary=news.summary,
            cover_url=news.cover.url if news.cover else "",
            tags=news.tag_names,
            pinned=news.pinned,
            published_at=news.published_at,
            read_count=news.read_count,
            read=read,
        )


class NewsPage(PageMeta):
    items: list[NewsSummaryOut]


class ReadingOut(Schema):
    opened_at: datetime = Field(..., description="调用者第一次打开的时间（阅读计时起点）")
    min_read_seconds: int = Field(..., description="阅读满多少秒可获得积分")
    completed: bool = Field(..., description="是否已完成阅读（已计分或已判定不计分）")
    points: int = Field(0, description="本条资讯获得的积分")


class MemberNewsOut(NewsSummaryOut):
    body: str = Field(..., description="正文（已净化的 HTML）")
    reading: ReadingOut


class ReadCompleteOut(Schema):
    points: int = Field(..., description="本次获得的积分（0 表示未获得，原因见 code）")
    code: str = Field(
        ...,
        description="PAID 已发放；CAPPED 受上限限制只发放部分；CAP_REACHED 已达上限；NO_RULE 所在工会未设置阅读积分；"
        "MEMBER_NOT_ACTIVE 非在册会员；重试时为原结果",
    )
    message: str = Field("", description="中文说明")
    replayed: bool = Field(..., description="此前已完成阅读：本次未再发放")


class CadreNewsOut(NewsSummaryOut):
    body: str = Field(..., description="正文（已净化的 HTML）")
    status: str = Field(..., description="draft 草稿、published 已发布、withdrawn 已撤回")
    state: str = Field(..., description="draft、scheduled 定时发布、published、withdrawn")

    @staticmethod
    def of_cadre(news: NewsItem) -> CadreNewsOut:
        base = NewsSummaryOut.of(news).dict()
        return CadreNewsOut(**base, body=news.body, status=news.status, state=selectors.state_of(news))


class NewsIn(Schema):
    org_id: int = Field(..., description="发布工会 ID（须在调用者管辖范围内）")
    title: str = Field(..., max_length=120, description="标题")
    summary: str = Field("", max_length=200, description="摘要")
    body: str = Field(
        "", max_length=100000, description="正文 HTML（保存时净化：只保留段落、强调、列表、标题、链接、图片）"
    )
    tags: list[str] = Field(default_factory=list, description="标签（最多 5 个，每个不超过 20 字）")
    pinned: bool = Field(False, description="置顶")


class NewsPatch(Schema):
    title: str | None = Field(None, max_length=120)
    summary: str | None = Field(None, max_length=200)
    body: str | None = Field(None, max_length=100000)
    tags: list[str] | None = None
    pinned: bool | None = None


class PublishIn(Schema):
    published_at: datetime | None = Field(None, description="定时发布时间；不填即立即发布")


# --- members ------------------------------------------------------------------------------


def _member(request: HttpRequest) -> Member:
    return require_member(request)


def _member_news(request: HttpRequest, news_id: int) -> tuple[Member, NewsItem]:
    member = _member(request)
    news = selectors.get_for_member(member, news_id)
    if news is None:
        raise ApiError(404, "NOT_FOUND", "对象不存在")
    return member, news


@me_router.get("", response={200: NewsPage, **responses()}, operation_id="my_news", summary="我的资讯（会员）")
def my_news(
    request: HttpRequest,
    tag: str = Query("", max_length=20, description="按标签筛选"),  # type: ignore[type-arg]
    page: int = Query(1, ge=1),  # type: ignore[type-arg]
    size: int = Query(20, ge=1, le=MAX_PAGE_SIZE),  # type: ignore[type-arg]
) -> NewsPage:
    """所在工会及全部上级工会已发布的资讯：置顶在前，其余由新到旧。未关联会员档案时返回 403 `NOT_A_MEMBER`。"""
    member = _member(request)
    items, meta = paginate(selectors.visible_to_member(member, tag=tag.strip()), page, size)
    read = selectors.read_ids(member, [n.pk for n in items])
    return NewsPage(items=[NewsSummaryOut.of(n, n.pk in read) for n in items], **meta)


@me_router.get(
    "/{int:news_id}", response={200: MemberNewsOut, **responses(404)}, operation_id="read_news", summary="阅读资讯"
)
def read_news(request: HttpRequest, news_id: int) -> MemberNewsOut:
    """打开资讯：第一次打开时开始阅读计时并计入阅读人数。阅读满 `reading.min_read_seconds` 秒后调用
    `POST /api/v1/me/news/{id}/read-complete` 领取阅读积分。"""
    member, news = _member_news(request, news_id)
    read = actions.open_news(member=member, news=news)
    return MemberNewsOut(
        **NewsSummaryOut.of(news, True).dict(),
        body=news.body,
        reading=ReadingOut(
            opened_at=read.opened_at,
            min_read_seconds=rules.min_read_seconds(member),
            completed=read.credited_at is not None,
            points=read.points,
        ),
    )


@me_router.post(
    "/{int:news_id}/read-complete",
    response={200: ReadCompleteOut, **responses(404, 409)},
    operation_id="complete_news_reading",
    summary="读完资讯，领取阅读积分",
)
def complete_news_reading(request: HttpRequest, news_id: int) -> ReadCompleteOut:
    """服务器按第一次打开的时间核对阅读时长：不足时返回 `409 NEWS_READ_TOO_SOON`（`details.wait_seconds`
    为还需等待的秒数）；未打开过返回 `409 NEWS_NOT_OPENED`。每条资讯只计一次分，重试返回原结果
    （`replayed: true`），天然幂等。"""
    member, news = _member_news(request, news_id)
    result = actions.complete_reading(member=member, news=news)
    return ReadCompleteOut(points=result.points, code=result.code, message=result.message, replayed=result.replayed)


# --- cadres -------------------------------------------------------------------------------


def _get(request: HttpRequest, news_id: int) -> NewsItem:
    return selectors.get_for_cadre(current_user(request), news_id)


@router.get("", response={200: list[CadreNewsOut], **responses()}, operation_id="list_news", summary="资讯列表（干部）")
def list_news(
    request: HttpRequest,
    state: str = Query("", description="draft、scheduled、published、withdrawn"),  # type: ignore[type-arg]
    limit: int = Query(50, ge=1, le=200),  # type: ignore[type-arg]
    offset: int = Query(0, ge=0),  # type: ignore[type-arg]
) -> list[CadreNewsOut]:
    """调用者管辖范围内各级工会的资讯（含草稿），置顶在前、新建的在前。"""
    qs = selectors.filter_state(selectors.for_cadre(current_user(request)), state)
    return [CadreNewsOut.of_cadre(n) for n in qs[offset : offset + limit]]


@router.post(
    "", response={201: CadreNewsOut, **responses(400, 404, 409)}, operation_id="create_news", summary="新建资讯草稿"
)
def create_news(request: HttpRequest, body: NewsIn) -> Status[CadreNewsOut]:
    user = current_user(request)
    org: Org = access.get_object_or_404(user, Org.objects.all(), Perm.NEWS_PUBLISH, pk=body.org_id)
    values: dict[str, Any] = body.dict(exclude={"org_id"})
    news = actions.create_news(actor=user, org=org, values=values)
    return Status(201, CadreNewsOut.of_cadre(selectors.get_for_cadre(user, news.pk)))


@router.get(
    "/{int:news_id}",
    response={200: CadreNewsOut, **responses(404)},
    operation_id="get_news",
    summary="资讯详情（干部）",
)
def get_news(request: HttpRequest, news_id: int) -> CadreNewsOut:
    return CadreNewsOut.of_cadre(_get(request, news_id))


@router.patch(
    "/{int:news_id}",
    response={200: CadreNewsOut, **responses(400, 404)},
    operation_id="update_news",
    summary="修改资讯",
)
def update_news(request: HttpRequest, news_id: int, body: NewsPatch) -> CadreNewsOut:
    user = current_user(request)
    news = _get(request, news_id)
    values = {k: v for k, v in body.dict(exclude_unset=True).items() if v is not None}
    actions.update_news(actor=user, news=news, values=values)
    return CadreNewsOut.of_cadre(selectors.get_for_cadre(user, news.pk))


@router.post(
    "/{int:news_id}/publish",
    response={200: CadreNewsOut, **responses(400, 404, 409)},
    operation_id="publish_news",
    summary="发布资讯（立即或定时）",
)
def publish_news(request: HttpRequest, news_id: int, body: PublishIn) -> CadreNewsOut:
    """不填 `published_at` 即立即发布；填将来的时间即定时发布，届时会员可见。已发布的再次发布返回
    `409 NEWS_ALREADY_PUBLISHED`；时间早于现在返回 `400 NEWS_PUBLISH_PAST`。"""
    user = current_user(request)
    news = actions.publish(actor=user, news=_get(request, news_id), at=body.published_at)
    return CadreNewsOut.of_cadre(selectors.get_for_cadre(user, news.pk))


@router.post(
    "/{int:news_id}/withdraw",
    response={200: CadreNewsOut, **responses(404, 409)},
    operation_id="withdraw_news",
    summary="撤回资讯",
)
def withdraw_news(request: HttpRequest, news_id: int) -> CadreNewsOut:
    user = current_user(request)
    news = actions.withdraw(actor=user, news=_get(request, news_id))
    return CadreNewsOut.of_cadre(selectors.get_for_cadre(user, news.pk))


class PinIn(Schema):
    pinned: bool = Field(..., description="置顶或取消置顶")


@router.post(
    "/{int:news_id}/pin",
    response={200: CadreNewsOut, **responses(404)},
    operation_id="pin_news",
    summary="置顶或取消置顶",
)
def pin_news(request: HttpRequest, news_id: int, body: PinIn) -> CadreNewsOut:
    user = current_user(request)
    news = actions.set_pinned(actor=user, news=_get(request, news_id), pinned=body.pinned)
    return CadreNewsOut.of_cadre(selectors.get_for_cadre(user, news.pk))
