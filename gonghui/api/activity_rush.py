"""``/api/v1/activities/{id}/rush…``: ticket rushes (抢票/抢券).

- the member (portal session): ``POST /{id}/rush/grab`` — the hot path. ``200`` with the
  grant, or ``202`` with a place in the waiting room and a signed ``token``: call again
  with the token after ``poll_after_seconds`` (the token is the admission proof; without
  it a call only takes a place at the back). ``409 RUSH_SOLD_OUT`` when the stock is gone,
  ``RUSH_ALREADY`` (403, or 409 for a racing duplicate) for a second ticket. ``GET /{id}/rush`` for the ticket types,
  remaining stock and the caller's own ticket; ``POST /{id}/rush/cancel`` gives it back
  before the deadline. A ticket type with a coupon template is a rush of coupons: the grant
  carries the coupon put in the caller's wallet (``coupon_code``), cancelling revokes it, and
  a coupon already used makes the ticket not cancellable (``409 RUSH_COUPON_USED``);
- the organiser (cadre session, scoped through ``core.access``; another subtree's rush
  is 404): ticket types before the opening, live counts, the grants list (names masked),
  redeeming codes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema, Status

from gonghui.activities import registry
from gonghui.activities.kinds.rush import actions
from gonghui.activities.kinds.rush.models import Grant, GrantStatus, RushItem
from gonghui.activities.models import Activity
from gonghui.api import activity_common
from gonghui.api.auth import AccountSessionAuth, caller_member, current_user
from gonghui.api.errors import ApiError, responses
from gonghui.core.access import Perm
from gonghui.core.pii import mask_name

router = Router(tags=["活动-抢票 activities"])
member_auth = AccountSessionAuth()
POLL_SECONDS = 2
MAX_PAGE = 200


_not_found = activity_common.not_found


def _member_rush(activity_id: int) -> Activity:
    return activity_common.public_activity(activity_id, "rush")


def _cadre_rush(request: HttpRequest, activity_id: int, perm: Perm) -> Activity:
    return activity_common.cadre_activity(request, activity_id, perm, "rush")


_member = caller_member


def _item(activity: Activity, item_id: int) -> RushItem:
    item = RushItem.objects.filter(pk=item_id, activity=activity).first()
    if item is None:
        raise _not_found()
    return item


# --- schemas ------------------------------------------------------------------------------


class GrabIn(Schema):
    item_id: int = Field(..., description="票种 ID")
    token: str = Field("", max_length=300, description="排队凭证：上次返回 202 时的 token（首次调用不填）")


class GrantOut(Schema):
    id: int
    item_id: int = Field(..., description="票种 ID")
    item_name: str = Field(..., description="票种名称")
    code: str = Field(..., description="兑换码（凭此核销）")
    qr: str = Field(..., description="兑换二维码的内容（签名，防伪造）；已取消的票为空")
    status: GrantStatus = Field(..., description="granted 已抢到，cancelled 已取消，redeemed 已核销")
    created_at: datetime = Field(..., description="抢到时间")
    coupon_code: str = Field("", description="抢券：放入我的券包的券码（见 GET /api/v1/me/coupons/{code}）；不是券为空")
    coupon_status: str = Field(
        "", description="抢券：券的状态 issued 未使用 / redeemed 已使用 / expired / revoked 已作废"
    )


class GrabOut(Schema):
    result: Literal["granted", "queued"] = Field(..., description="granted 抢到了；queued 排队中")
    grant: GrantOut | None = Field(None, description="抢到的票（result = granted）")
    place: int = Field(0, description="排队中：前面还有多少人")
    wait_seconds: int = Field(0, description="排队中：预计等待秒数")
    token: str = Field("", description="排队中：下次调用时带上的排队凭证")
    poll_after_seconds: int = Field(0, description="排队中：建议多少秒后再次调用")


class ItemOut(Schema):
    id: int
    name: str = Field(..., description="票种名称")
    detail: str = Field(..., description="说明")
    stock: int = Field(..., description="投放数量")
    remaining: int = Field(..., description="剩余数量")
    coupon_template_id: int | None = Field(None, description="抢券：发放的券模板 ID；不是券为空")


class RushOut(Schema):
    state: str = Field(..., description="活动状态：published 未开始，open 进行中，closed 已结束")
    opens_in_seconds: int = Field(..., description="距开抢的秒数（已开抢为 0）")
    sold_out: bool = Field(..., description="全部票种都已抢完")
    cancel_deadline: datetime | None = Field(None, description="退票截止时间；为空表示不可退票")
    items: list[ItemOut]
    mine: GrantOut | None = Field(None, description="我的票（未抢到为空）")


class ItemIn(Schema):
    name: str = Field(..., min_length=1, max_length=80, description="票种名称，如：平安返乡专列 G1234")
    detail: str = Field("", max_length=200, description="说明，如：2027-01-28 广州南→长沙南")
    stock: int = Field(..., ge=1, le=10_000_000, description="投放数量")
    coupon_template_id: int | None = Field(
        None,
        description="抢券：发放的券模板 ID（主办工会或其上级工会的、启用中的券；库存不少于投放数量）。"
        "错误码 COUPON_TEMPLATE_OUTSIDE、COUPON_TEMPLATE_INACTIVE、RUSH_COUPON_STOCK",
    )


class ItemStatsOut(ItemOut):
    granted: int = Field(..., description="已抢到（未核销）")
    redeemed: int = Field(..., description="已核销")
    cancelled: int = Field(..., description="已退票")


class GrantRowOut(Schema):
    id: int
    item_id: int
    item_name: str
    member_name_masked: str = Field(..., description="脱敏姓名")
    union: str = Field(..., description="会员所属工会")
    code: str
    status: GrantStatus
    created_at: datetime
    redeemed_at: datetime | None = None


class GrantPage(Schema):
    count: int
    items: list[GrantRowOut]


class GrantQuery(Schema):
    status: GrantStatus | None = Field(None, description="按状态筛选")
    offset: int = Field(0, ge=0)
    limit: int = Field(50, ge=1, le=MAX_PAGE)


class RedeemIn(Schema):
    code: str = Field(..., min_length=1, max_length=400, description="兑换码，或扫描二维码所得的原文")


def _grant_out(grant: Grant, item_name: str | None = None) -> GrantOut:
    coupon = grant.coupon
    return GrantOut(
        id=grant.pk,
        item_id=grant.item_id,
        item_name=grant.item.name if item_name is None else item_name,
        code=grant.code,
        qr=actions.qr_payload(grant) if grant.status == GrantStatus.GRANTED and coupon is None else "",
        status=GrantStatus(grant.status),
        created_at=grant.created_at,
        coupon_code=coupon.code if coupon is not None else "",
        coupon_status=coupon.status if coupon is not None else "",
    )


def _item_out(item: RushItem) -> ItemOut:
    return ItemOut(
        id=item.pk,
        name=item.name,
        detail=item.detail,
        stock=item.stock,
        remaining=item.remaining,
        coupon_template_id=item.coupon_template_id,
    )


# --- member -------------------------------------------------------------------------------


@router.post(
    "/{activity_id}/rush/grab",
    auth=member_auth,
    response={200: GrabOut, 202: GrabOut, **responses(400, 404, 409)},
    operation_id="grab_rush_ticket",
    summary="抢票",
)
def grab(request: HttpRequest, activity_id: int, body: GrabIn) -> Status[Any]:
    """先到先得，每人一张。人多时进入排队：返回 202 与排队位置、预计等待和排队凭证 `token`，
    按 `poll_after_seconds` 带上 `token` 再次调用，轮到时即为您抢票。抢完返回 `409 RUSH_SOLD_OUT`；
    已参与返回 `RUSH_ALREADY`（403；并发重复请求为 409）；伪造或他人的凭证返回 `400 RUSH_ADMISSION_INVALID`。

    Grab one ticket. When the waiting room is in use the answer is 202 with a place and a
    signed token to call again with; the grab itself can never oversell.
    """
    activity = _member_rush(activity_id)
    outcome = actions.attempt(activity=activity, member=_member(request), item_id=body.item_id, token=body.token)
    return Status(*grab_answer(outcome))


def grab_answer(outcome: actions.Outcome) -> tuple[int, GrabOut]:
    """The status and body of a grab (the session path and the hot lane answer alike)."""
    if outcome.grant is not None:
        grant = outcome.grant
        name = RushItem.objects.filter(pk=grant.item_id).values_list("name", flat=True).first() or ""
        out = _grant_out(grant, item_name=name)
        return 200, GrabOut(result="granted", grant=out, place=0, wait_seconds=0, token="", poll_after_seconds=0)
    admission = outcome.admission
    assert admission is not None  # noqa: S101 - a queued outcome always carries its admission
    return 202, GrabOut(
        result="queued",
        grant=None,
        place=admission.place,
        wait_seconds=admission.wait_seconds,
        token=admission.token,
        poll_after_seconds=POLL_SECONDS,
    )


@router.get(
    "/{activity_id}/rush",
    auth=member_auth,
    response={200: RushOut, **responses(404)},
    operation_id="get_rush",
    summary="抢票状态：票种、剩余、我的票",
)
def get_rush(request: HttpRequest, activity_id: int) -> RushOut:
    activity = _member_rush(activity_id)
    member = _member(request)
    items = list(RushItem.objects.filter(activity=activity))
    grant = (
        Grant.objects.filter(activity=activity, member=member).select_related("item", "coupon").first()
        if member is not None
        else None
    )
    return RushOut(
        state=activity.state,
        opens_in_seconds=max(int((activity.starts_at - timezone.now()).total_seconds()), 0),
        sold_out=bool(items) and all(i.remaining <= 0 for i in items),
        cancel_deadline=actions.cancel_deadline(activity),
        items=[_item_out(i) for i in items],
        mine=_grant_out(grant) if grant is not None else None,
    )


@router.post(
    "/{activity_id}/rush/cancel",
    auth=member_auth,
    response={200: GrantOut, **responses(400, 404, 409)},
    operation_id="cancel_rush_ticket",
    summary="退票",
)
def cancel(request: HttpRequest, activity_id: int) -> GrantOut:
    """在退票截止前退回我的票，名额回到库存。退票后不能再抢（每人一次机会）。
    抢券：退票同时作废券；券已使用返回 `409 RUSH_COUPON_USED`。"""
    activity = _member_rush(activity_id)
    member = _member(request)
    if member is None:
        raise ApiError(403, "NOT_A_MEMBER", "请先登录并完成入会，会员才能参加活动。")
    return _grant_out(actions.cancel(activity=activity, member=member))


# --- organiser ----------------------------------------------------------------------------


@router.get(
    "/{activity_id}/rush/items",
    response={200: list[ItemStatsOut], **responses(404)},
    operation_id="list_rush_items",
    summary="票种与实时库存（主办方）",
)
def list_items(request: HttpRequest, activity_id: int) -> list[ItemStatsOut]:
    activity = _cadre_rush(request, activity_id, Perm.ACTIVITY_VIEW)
    rows = registry.get("rush").results(activity, for_organiser=True)["items"]
    return [ItemStatsOut(**{k: row[k] for k in ItemStatsOut.model_fields}) for row in rows]


@router.post(
    "/{activity_id}/rush/items",
    response={201: ItemOut, **responses(400, 404, 409)},
    operation_id="add_rush_item",
    summary="添加票种（开抢前）",
)
def add_item(request: HttpRequest, activity_id: int, body: ItemIn) -> Status[Any]:
    activity = _cadre_rush(request, activity_id, Perm.ACTIVITY_MANAGE)
    item = actions.add_item(actor=current_user(request), activity=activity, **body.dict())
    return Status(201, _item_out(item))


@router.patch(
    "/{activity_id}/rush/items/{item_id}",
    response={200: ItemOut, **responses(400, 404, 409)},
    operation_id="update_rush_item",
    summary="修改票种（开抢前）",
)
def update_item(request: HttpRequest, activity_id: int, item_id: int, body: ItemIn) -> ItemOut:
    activity = _cadre_rush(request, activity_id, Perm.ACTIVITY_MANAGE)
    item = actions.update_item(
        actor=current_user(request), activity=activity, item=_item(activity, item_id), **body.dict()
    )
    return _item_out(item)


@router.delete(
    "/{activity_id}/rush/items/{item_id}",
    response={204: None, **responses(404, 409)},
    operation_id="delete_rush_item",
    summary="删除票种（开抢前）",
)
def delete_item(request: HttpRequest, activity_id: int, item_id: int) -> Status[Any]:
    activity = _cadre_rush(request, activity_id, Perm.ACTIVITY_MANAGE)
    actions.delete_item(actor=current_user(request), activity=activity, item=_item(activity, item_id))
    return Status(204, None)


@router.get(
    "/{activity_id}/rush/grants",
    response={200: GrantPage, **responses(404)},
    operation_id="list_rush_grants",
    summary="抢票名单（姓名脱敏）",
)
def list_grants(request: HttpRequest, activity_id: int, query: Query[GrantQuery]) -> GrantPage:
    activity = _cadre_rush(request, activity_id, Perm.ACTIVITY_VIEW)
    qs = Grant.objects.filter(activity=activity).select_related("item", "member__org").order_by("created_at", "pk")
    if query.status:
        qs = qs.filter(status=query.status)
    rows = qs[query.offset : query.offset + query.limit]
    return GrantPage(
        count=qs.count(),
        items=[
            GrantRowOut(
                id=g.pk,
                item_id=g.item_id,
                item_name=g.item.name,
                member_name_masked=mask_name(g.member.name),
                union=g.member.org.name,
                code=g.code,
                status=GrantStatus(g.status),
                created_at=g.created_at,
                redeemed_at=g.redeemed_at,
            )
            for g in rows
        ],
    )


@router.post(
    "/{activity_id}/rush/redeem",
    response={200: GrantOut, **responses(400, 404, 409)},
    operation_id="redeem_rush_ticket",
    summary="核销兑换码（主办方）",
)
def redeem(request: HttpRequest, activity_id: int, body: RedeemIn) -> GrantOut:
    """按兑换码或二维码原文核销一张票；每张票只能核销一次（重复核销返回 `409 RUSH_NOT_REDEEMABLE`）。
    抢券的票不在这里核销（`409 RUSH_REDEEM_COUPON`），由合作商户核销券码。"""
    activity = _cadre_rush(request, activity_id, Perm.ACTIVITY_MANAGE)
    grant = actions.redeem(actor=current_user(request), activity=activity, scanned=body.code)
    return _grant_out(grant)
