"""``/api/v1/activities/{id}/lottery/…``: the verifiable lottery (抽奖).

Three audiences:

- anyone (no login): ``GET …/lottery/public`` — the public record (commitment before the
  draw; entry list once entries close; seed and winners by entry code after the draw),
  the input of ``scripts/verify_lottery.py``;
- the member (portal session): enter (paying the lottery's ``points_cost`` if it has one),
  their own entry and wins, confirm a win; a coupon prize arrives in the member's coupon
  wallet by itself (``coupon_code``);
- the organiser (cadre session, scoped through ``core.access``; another subtree's
  activity is 404): prizes, the draw, the winners with names, hand-over.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from gonghui.activities.kinds.lottery import actions, selectors
from gonghui.activities.kinds.lottery.kind import points_cost
from gonghui.activities.kinds.lottery.models import Entry, Prize, Win, WinStatus
from gonghui.activities.models import Activity
from gonghui.api import activity_common
from gonghui.api.auth import AccountSessionAuth, caller_member, current_user, optional_auth
from gonghui.api.errors import responses
from gonghui.core.access import Perm
from gonghui.points import ledger

router = Router(tags=["活动-抽奖 activities"])
member_auth = AccountSessionAuth()


_not_found = activity_common.not_found


def _public_activity(activity_id: int) -> Activity:
    return activity_common.public_activity(activity_id, "lottery")


def _cadre_activity(request: HttpRequest, activity_id: int, perm: Perm) -> Activity:
    return activity_common.cadre_activity(request, activity_id, perm, "lottery")


_member = caller_member


# --- schemas ------------------------------------------------------------------------------


class PrizeRowOut(Schema):
    order: int = Field(..., description="排序（小的先抽）")
    name: str = Field(..., description="奖品名称")
    quantity: int = Field(..., description="数量")
    first_slot: int = Field(..., description="该奖品第一个名额的序号（名额从 0 起按奖品顺序编号）")


class WinnerRowOut(Schema):
    slot: int = Field(..., description="名额序号")
    prize: str = Field(..., description="奖品名称")
    code: str = Field(..., description="中奖参与码")
    status: WinStatus = Field(
        ..., description="won 待领奖，claimed 已确认，handed_over 已兑奖，expired 逾期作废，redrawn 逾期已重抽"
    )


class RoundOut(Schema):
    round: int = Field(..., description="轮次：0 为开奖，1、2… 为逾期未领的重抽")
    slots: list[int] = Field(..., description="本轮抽出的名额序号（升序）")
    winners: list[WinnerRowOut] = Field(..., description="本轮中奖的参与码")


class PublicRecordOut(Schema):
    format: str = Field(..., description="记录格式，目前为 gonghui-lottery/1")
    algorithm: str = Field(..., description="抽奖算法名称，见 docs/ACTIVITIES.md")
    activity_id: int
    title: str
    organiser: str = Field(..., description="主办工会")
    state: str = Field(..., description="活动状态：published 未开始，open 进行中，closed 已结束，archived 已归档")
    entries_close_at: datetime = Field(..., description="参与截止时间")
    commitment: str | None = Field(None, description="种子承诺：SHA-256(种子)，发布时即公开")
    committed_at: datetime | None = Field(None, description="承诺生成时间")
    prizes: list[PrizeRowOut]
    slot_count: int = Field(..., description="名额总数（奖品数量之和）")
    entry_count: int = Field(..., description="参与人数")
    entries: list[str] | None = Field(None, description="参与码名单（按字符排序）；参与截止后公布")
    entries_sha256: str | None = Field(None, description="名单摘要：SHA-256(按序排列的参与码以换行连接)")
    seed: str | None = Field(None, description="开奖后公开的种子（64 位十六进制）")
    drawn_at: datetime | None = Field(None, description="开奖时间")
    rounds: list[RoundOut] = Field(..., description="开奖及每轮重抽的结果")


class EntryOut(Schema):
    code: str = Field(..., description="我的参与码（公开名单上以此代表我）")
    created_at: datetime = Field(..., description="参与时间")


class MyWinOut(Schema):
    id: int = Field(..., description="中奖记录 ID")
    prize: str = Field(..., description="奖品名称")
    claim_instructions: str = Field(..., description="领奖说明")
    round: int = Field(..., description="轮次（0 为开奖）")
    status: WinStatus = Field(..., description="状态")
    claim_deadline: datetime = Field(..., description="确认领奖截止时间")
    claim_code: str = Field(..., description="领奖码（确认后生成，兑奖时出示）")
    is_coupon: bool = Field(False, description="奖品是券：开奖时直接放入我的券包，无需确认领奖")
    coupon_code: str = Field("", description="放入我的券包的券码（见 GET /api/v1/me/coupons/{code}）；未发券为空")

    @staticmethod
    def resolve_prize(obj: Win) -> str:
        return obj.prize.name

    @staticmethod
    def resolve_claim_instructions(obj: Win) -> str:
        return obj.prize.claim_instructions

    @staticmethod
    def resolve_is_coupon(obj: Win) -> bool:
        return obj.prize.coupon_template_id is not None

    @staticmethod
    def resolve_coupon_code(obj: Win) -> str:
        return obj.coupon.code if obj.coupon_id is not None and obj.coupon is not None else ""


class MineOut(Schema):
    eligible: bool = Field(..., description="现在能否参与")
    reason: str = Field(..., description="不能参与的原因")
    reason_code: str = Field(..., description="原因代码")
    entry: EntryOut | None = Field(None, description="我的参与记录；未参与为空")
    wins: list[MyWinOut] = Field(..., description="我的中奖记录")
    points_cost: int = Field(0, description="参与所需积分（活动设置 points_cost；0 为免费）")
    balance: int = Field(0, description="我的积分余额")


class PrizeIn(Schema):
    name: str = Field(..., max_length=80, description="奖品名称")
    quantity: int = Field(..., ge=1, description="数量")
    order: int = Field(0, ge=0, description="排序（小的先抽）")
    claim_instructions: str = Field("", description="领奖说明")
    coupon_template_id: int | None = Field(
        None,
        description="奖品是券时的券模板 ID（主办工会或其上级工会的、启用中的券；库存不少于数量）。"
        "中奖后券直接放入会员券包；错误码 COUPON_TEMPLATE_OUTSIDE、COUPON_TEMPLATE_INACTIVE、LOTTERY_COUPON_STOCK",
    )


class PrizeOut(Schema):
    id: int
    name: str
    quantity: int
    order: int
    claim_instructions: str
    image: str = Field("", description="奖品图片地址")
    coupon_template_id: int | None = Field(None, description="奖品券的模板 ID；不是券为空")
    coupon_template_name: str = Field("", description="奖品券的名称")

    @staticmethod
    def resolve_image(obj: Prize) -> str:
        return obj.image.url if obj.image else ""

    @staticmethod
    def resolve_coupon_template_name(obj: Prize) -> str:
        return obj.coupon_template.name if obj.coupon_template is not None else ""


class OrganiserWinOut(Schema):
    id: int
    slot: int
    round: int
    prize: str
    code: str
    name: str = Field(..., description="中奖会员姓名")
    union: str = Field(..., description="中奖会员所属工会")
    status: WinStatus
    claim_deadline: datetime
    claim_code: str
    claimed_at: datetime | None
    handed_over_at: datetime | None
    coupon_issued: bool = Field(False, description="券奖品已放入中奖会员券包")

    @staticmethod
    def resolve_prize(obj: Win) -> str:
        return obj.prize.name

    @staticmethod
    def resolve_coupon_issued(obj: Win) -> bool:
        return obj.coupon_id is not None

    @staticmethod
    def resolve_code(obj: Win) -> str:
        return obj.entry.code

    @staticmethod
    def resolve_name(obj: Win) -> str:
        return obj.entry.member.name

    @staticmethod
    def resolve_union(obj: Win) -> str:
        return obj.entry.member.org.name


class HandOverIn(Schema):
    claim_code: str = Field("", max_length=16, description="会员出示的领奖码（填写则核对）")


class DrawOut(Schema):
    seed: str = Field(..., description="公开的种子")
    winners: int = Field(..., description="中奖名额数")


# --- public -------------------------------------------------------------------------------


@router.get(
    "/{activity_id}/lottery/public",
    auth=optional_auth,
    response={200: PublicRecordOut, **responses(404)},
    operation_id="get_lottery_public_record",
    summary="抽奖的公开记录（承诺、参与码名单、种子、中奖名单）",
)
def get_public_record(request: HttpRequest, activity_id: int) -> dict[str, Any]:
    """无需登录。发布后即可看到种子承诺；参与截止后公布参与码名单；开奖后公布种子和每一轮的中奖参与码。
    用 `scripts/verify_lottery.py` 可独立复算中奖名单。

    The public record, no login needed: the input of scripts/verify_lottery.py.
    """
    return selectors.public_record(_public_activity(activity_id))


# --- member -------------------------------------------------------------------------------


@router.get(
    "/{activity_id}/lottery/me",
    auth=member_auth,
    response={200: MineOut, **responses(404)},
    operation_id="get_my_lottery",
    summary="我的抽奖：能否参与、参与码、中奖记录",
)
def get_mine(request: HttpRequest, activity_id: int) -> dict[str, Any]:
    from gonghui.activities import eligibility

    activity = _public_activity(activity_id)
    member = _member(request)
    answer = eligibility.check(activity, member)
    return {
        "eligible": answer.ok,
        "reason": answer.reason,
        "reason_code": answer.code,
        "entry": selectors.entry_of(activity, member),
        "wins": selectors.wins_of(activity, member),
        "points_cost": points_cost(activity),
        "balance": ledger.balance_of(member) if member is not None else 0,
    }


@router.post(
    "/{activity_id}/lottery/enter",
    auth=member_auth,
    response={201: EntryOut, **responses(404, 409)},
    operation_id="enter_lottery",
    summary="参与抽奖（每人一次；设置了参与积分的扣除积分）",
)
def enter(request: HttpRequest, activity_id: int) -> Status[Entry]:
    """参与抽奖，返回参与码。不符合条件返回 `403 NOT_ELIGIBLE` 及原因代码（如 `LOTTERY_ENTERED`、
    `ACTIVITY_ENDED`）；并发的重复参与返回 `409 LOTTERY_ALREADY_ENTERED`。
    活动设置了 `points_cost` 时，参与同时扣除积分（与参与记录同一事务，每人只扣一次）；
    积分不足返回 `409 POINTS_INSUFFICIENT`，不产生参与记录。"""
    activity = _public_activity(activity_id)
    entry = actions.enter(member=_member(request), activity=activity)
    return Status(201, entry)


@router.post(
    "/{activity_id}/lottery/wins/{win_id}/claim",
    auth=member_auth,
    response={200: MyWinOut, **responses(404, 409)},
    operation_id="claim_lottery_win",
    summary="确认领奖（领奖期限内），获得领奖码",
)
def claim(request: HttpRequest, activity_id: int, win_id: int) -> Win:
    """期限内确认领奖，返回领奖码；逾期返回 `409 LOTTERY_CLAIM_EXPIRED`。"""
    activity = _public_activity(activity_id)
    member = _member(request)
    win = Win.objects.select_related("entry", "prize").filter(pk=win_id, activity=activity).first()
    if win is None or member is None or win.entry.member_id != member.pk:
        raise _not_found()
    return actions.claim(member=member, win=win)


# --- organiser ----------------------------------------------------------------------------


@router.get(
    "/{activity_id}/lottery/prizes",
    response={200: list[PrizeOut], **responses(404)},
    operation_id="list_lottery_prizes",
    summary="奖品列表",
)
def list_prizes(request: HttpRequest, activity_id: int) -> list[Prize]:
    return selectors.prizes(_cadre_activity(request, activity_id, Perm.ACTIVITY_VIEW))


@router.post(
    "/{activity_id}/lottery/prizes",
    response={201: PrizeOut, **responses(404, 409)},
    operation_id="add_lottery_prize",
    summary="添加奖品（活动开始前）",
)
def add_prize(request: HttpRequest, activity_id: int, body: PrizeIn) -> Status[Prize]:
    activity = _cadre_activity(request, activity_id, Perm.ACTIVITY_MANAGE)
    return Status(201, actions.add_prize(actor=current_user(request), activity=activity, values=body.dict()))


def _prize(activity: Activity, prize_id: int) -> Prize:
    prize = Prize.objects.select_related("activity").filter(pk=prize_id, activity=activity).first()
    if prize is None:
        raise _not_found()
    return prize


@router.put(
    "/{activity_id}/lottery/prizes/{prize_id}",
    response={200: PrizeOut, **responses(404, 409)},
    operation_id="update_lottery_prize",
    summary="修改奖品（活动开始前）",
)
def update_prize(request: HttpRequest, activity_id: int, prize_id: int, body: PrizeIn) -> Prize:
    activity = _cadre_activity(request, activity_id, Perm.ACTIVITY_MANAGE)
    return actions.update_prize(actor=current_user(request), prize=_prize(activity, prize_id), values=body.dict())


@router.delete(
    "/{activity_id}/lottery/prizes/{prize_id}",
    response={204: None, **responses(404, 409)},
    operation_id="delete_lottery_prize",
    summary="删除奖品（活动开始前）",
)
def delete_prize(request: HttpRequest, activity_id: int, prize_id: int) -> Status[None]:
    activity = _cadre_activity(request, activity_id, Perm.ACTIVITY_MANAGE)
    actions.delete_prize(actor=current_user(request), prize=_prize(activity, prize_id))
    return Status(204, None)


@router.post(
    "/{activity_id}/lottery/draw",
    response={200: DrawOut, **responses(404, 409)},
    operation_id="draw_lottery",
    summary="开奖（活动结束后；公开种子并抽出中奖者）",
)
def run_draw(request: HttpRequest, activity_id: int) -> dict[str, Any]:
    """活动结束后开奖，只能一次（`409 LOTTERY_ALREADY_DRAWN`）；未结束返回 `409 LOTTERY_NOT_CLOSED`。
    未设置“手动开奖”的抽奖在结束时自动开奖。"""
    activity = _cadre_activity(request, activity_id, Perm.ACTIVITY_MANAGE)
    wins = actions.run_draw(actor=current_user(request), activity=activity)
    record = selectors.draw_record(activity)
    return {"seed": record.seed_hex if record else "", "winners": len(wins)}


@router.get(
    "/{activity_id}/lottery/winners",
    response={200: list[OrganiserWinOut], **responses(404)},
    operation_id="list_lottery_winners",
    summary="中奖名单（含姓名与领奖状态）",
)
def list_winners(request: HttpRequest, activity_id: int) -> list[Win]:
    return selectors.all_wins(_cadre_activity(request, activity_id, Perm.ACTIVITY_VIEW))


@router.post(
    "/{activity_id}/lottery/wins/{win_id}/hand-over",
    response={200: OrganiserWinOut, **responses(404, 409)},
    operation_id="hand_over_lottery_win",
    summary="兑奖：登记奖品已交给中奖会员",
)
def hand_over(request: HttpRequest, activity_id: int, win_id: int, body: HandOverIn) -> Win:
    activity = _cadre_activity(request, activity_id, Perm.ACTIVITY_MANAGE)
    win = Win.objects.filter(pk=win_id, activity=activity).first()
    if win is None:
        raise _not_found()
    done = actions.hand_over(actor=current_user(request), win=win, claim_code=body.claim_code)
    return Win.objects.select_related("prize", "entry__member__org").get(pk=done.pk)
