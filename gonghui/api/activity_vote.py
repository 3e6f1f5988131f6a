"""``/api/v1/activities/{id}/vote…``: votes and public-choice contests (投票、评选).

Three audiences:

- anyone (no login): the vote's rules and candidates, the results when the rules show
  them, and after a secret vote closes the published receipt list;
- the member (portal session): ``POST /{id}/vote`` casts a ballot (the hot path: send an
  ``Idempotency-Key`` header to retry safely), ``GET /{id}/vote/me``;
- the organiser (cadre session, scoped through ``core.access``; another subtree's vote is
  404): candidates — list, add, change, photo, remove, reorder — before the vote opens.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.http import HttpRequest
from ninja import Field, File, Query, Router, Schema, Status
from ninja.files import UploadedFile
from pydantic import ConfigDict

from gonghui.activities import eligibility
from gonghui.activities.kinds.vote import actions, selectors
from gonghui.activities.kinds.vote.kind import VoteRules
from gonghui.activities.kinds.vote.models import Candidate
from gonghui.activities.models import Activity
from gonghui.api import activity_common
from gonghui.api.auth import AccountSessionAuth, caller_member, current_user, optional_auth
from gonghui.api.errors import ApiError, responses
from gonghui.core.access import Perm

router = Router(tags=["活动-投票 activities"])
member_auth = AccountSessionAuth()
MAX_RECEIPTS = 500


_not_found = activity_common.not_found


def _public_vote(activity_id: int) -> Activity:
    return activity_common.public_activity(activity_id, "vote")


def _cadre_vote(request: HttpRequest, activity_id: int, perm: Perm) -> Activity:
    return activity_common.cadre_activity(request, activity_id, perm, "vote")


_member = caller_member


def _candidate(activity: Activity, candidate_id: int) -> Candidate:
    candidate = Candidate.objects.select_related("activity").filter(pk=candidate_id, activity=activity).first()
    if candidate is None:
        raise _not_found()
    return candidate


# --- schemas ------------------------------------------------------------------------------


class RulesOut(Schema):
    mode: str = Field(..., description="single 单选，multiple 多选")
    min_choices: int = Field(..., description="每张选票最少选择数")
    max_choices: int = Field(..., description="每张选票最多选择数")
    daily_allowance: int = Field(
        ..., description="0：整个活动每人一张选票；N>0：评选，每人每天最多 N 张，同一候选人每天一票"
    )
    results_visibility: str = Field(..., description="live 实时显示排名，after_close 结束后公布")
    secret: bool = Field(..., description="无记名投票：选票与投票人无法关联，投票人获得回执码")


class CandidateOut(Schema):
    id: int = Field(..., description="候选人 ID")
    name: str = Field(..., description="名称")
    text: str = Field(..., description="介绍")
    photo: str = Field(..., description="照片地址（没有为空）")
    order: int = Field(..., description="显示顺序")

    @staticmethod
    def resolve_photo(obj: Candidate) -> str:
        return obj.photo.url if obj.photo else ""


class TallyRowOut(Schema):
    id: int = Field(..., description="候选人 ID")
    name: str = Field(..., description="名称")
    votes: int = Field(..., description="得票数")
    share: float = Field(..., description="得票率（%，占全部选择）")
    rank: int = Field(..., description="名次（同票同名次）")


class ResultsOut(Schema):
    visible: bool = Field(..., description="现在是否公布结果（按规则：实时或结束后）")
    final: bool = Field(..., description="是否为最终结果（投票已结束并完成统计）")
    participants: int = Field(..., description="参与人数")
    ballots: int | None = Field(None, description="选票数（公布时）")
    candidates: list[TallyRowOut] = Field(..., description="按得票排序；未公布时为空")


class VoteOut(Schema):
    id: int = Field(..., description="活动 ID")
    title: str = Field(..., description="标题")
    state: str = Field(..., description="published 未开始，open 进行中，closed 已结束，archived 已归档")
    rules: RulesOut
    candidates: list[CandidateOut]
    results: ResultsOut


class CastIn(Schema):
    model_config = ConfigDict(extra="forbid")

    choices: list[int] = Field(..., min_length=1, max_length=100, description="所选候选人 ID")


class CastOut(Schema):
    candidate_ids: list[int] = Field(..., description="所选候选人 ID")
    receipt: str = Field(
        "", description="无记名投票的回执码（只返回这一次，平台不保存它与投票人的对应关系）；记名投票为空"
    )
    ballot_id: int | None = Field(None, description="记名选票 ID（无记名投票为空）")
    day: date | None = Field(None, description="评选：选票所属日期（北京时间）")
    seq: int | None = Field(None, description="评选：当日第几票")
    remaining_today: int = Field(0, description="评选：今天还可投的票数")
    replayed: bool = Field(False, description="是否为同一 Idempotency-Key 的重试（返回原选票，未再次投票）")


class MineOut(Schema):
    eligible: bool = Field(..., description="现在能否投票")
    code: str = Field("", description="不能投票时的原因代码（如 ALREADY_VOTED、VOTE_DAILY_LIMIT、AUDIENCE_RETAINED）")
    reason: str = Field("", description="不能投票时的中文原因")
    ballots_today: int = Field(..., description="今天已投的选票数（非评选为整个活动）")
    voted_today: list[int] = Field(..., description="今天已投过的候选人 ID（无记名投票为空）")


class ReceiptOut(Schema):
    receipt: str = Field(..., description="回执码")
    choices: list[str] = Field(..., description="该选票所选的候选人名称")


class ReceiptPage(Schema):
    published: bool = Field(..., description="名单是否已公布（投票结束且全部选票混合完成）")
    count: int = Field(..., description="选票总数")
    items: list[ReceiptOut] = Field(..., description="按回执码排序的一页")
    found: ReceiptOut | None = Field(None, description="按 receipt 参数查到的选票；查不到为空")


class ReceiptQuery(Schema):
    receipt: str | None = Field(None, max_length=20, description="要核对的回执码（可带或不带连字符，大小写不限）")
    page: int = Field(1, ge=1, description="页码")
    limit: int = Field(100, ge=1, le=MAX_RECEIPTS, description=f"每页条数（1–{MAX_RECEIPTS}）")


class CandidateIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., min_length=1, max_length=80, description="名称")
    text: str = Field("", max_length=2000, description="介绍")


class CandidatePatch(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=80, description="名称")
    text: str | None = Field(None, max_length=2000, description="介绍")
    clear_photo: bool = Field(False, description="删除照片")


class OrderIn(Schema):
    model_config = ConfigDict(extra="forbid")

    candidate_ids: list[int] = Field(..., description="全部候选人 ID，按新的顺序")


def _results_out(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "candidates": data["candidates"] if data["visible"] else []}


# --- anyone -------------------------------------------------------------------------------


@router.get(
    "/{activity_id}/vote",
    auth=optional_auth,
    response={200: VoteOut, **responses(404)},
    operation_id="get_vote",
    summary="投票的规则、候选人和（按规则公布的）结果",
)
def get_vote(request: HttpRequest, activity_id: int) -> dict[str, Any]:
    """无需登录。已发布或已结束的投票。结果按规则公布：实时排名，或结束后公布；无记名投票只在结束并完成混合后公布。"""
    activity = _public_vote(activity_id)
    return {
        "id": activity.pk,
        "title": activity.title,
        "state": activity.state,
        "rules": VoteRules.of(activity).__dict__,
        "candidates": selectors.candidates(activity),
        "results": _results_out(selectors.results(activity, for_organiser=False)),
    }


@router.get(
    "/{activity_id}/vote/results",
    auth=optional_auth,
    response={200: ResultsOut, **responses(404)},
    operation_id="get_vote_results",
    summary="投票结果（按规则公布）",
)
def get_results(request: HttpRequest, activity_id: int) -> dict[str, Any]:
    """无需登录。实时统计有数秒缓存延迟；`final` 为真时是最终结果。"""
    return _results_out(selectors.results(_public_vote(activity_id), for_organiser=False))


@router.get(
    "/{activity_id}/vote/receipts",
    auth=optional_auth,
    response={200: ReceiptPage, **responses(404)},
    operation_id="list_vote_receipts",
    summary="无记名投票的回执公开名单（结束后）",
)
def list_receipts(request: HttpRequest, activity_id: int, query: Query[ReceiptQuery]) -> dict[str, Any]:
    """无需登录。投票结束、全部选票混合后公布每张选票的回执码与所选内容（没有任何姓名）；
    投票人用 `receipt` 参数核对自己的选票已被计入。记名投票返回 404。"""
    activity = _public_vote(activity_id)
    if not VoteRules.of(activity).secret:
        raise _not_found()
    if not selectors.receipts_published(activity):
        return {"published": False, "count": 0, "items": []}
    page, rows = selectors.receipt_page(activity, query.page, query.limit)
    found = None
    if query.receipt:
        choices = selectors.find_receipt(activity, query.receipt)
        if choices is not None:
            receipt = selectors.format_receipt(selectors.normalise_receipt(query.receipt))
            found = {"receipt": receipt, "choices": choices}
    return {
        "published": True,
        "count": page.paginator.count,
        "items": [{"receipt": r, "choices": c} for r, c in rows],
        "found": found,
    }


# --- the member ---------------------------------------------------------------------------


@router.post(
    "/{activity_id}/vote",
    auth=member_auth,
    response={200: CastOut, 201: CastOut, **responses(404, 409)},
    operation_id="cast_vote",
    summary="投票（会员本人）",
)
def cast_vote(request: HttpRequest, activity_id: int, body: CastIn) -> Status[Any]:
    """投出一张选票。可带 `Idempotency-Key` 请求头（≤ 64 字符）：同一个键的重试返回原选票（200，`replayed: true`），
    不会再投一次。无记名投票的回执码只在 201 响应中返回一次，平台不保存它与投票人的对应关系
    （无记名投票的重试得到 `403 ALREADY_VOTED`）。

    错误代码：`403 NOT_ELIGIBLE` 类（`code` 为 `ALREADY_VOTED`、`VOTE_DAILY_LIMIT`、`ACTIVITY_ENDED`、
    `ACTIVITY_NOT_STARTED`、`AUDIENCE_*`、`NOT_A_MEMBER` 等）；`400 VOTE_CHOICE_COUNT` 选择数不符；
    `400 VOTE_UNKNOWN_CANDIDATE`；`400 VOTE_DUPLICATE_CHOICE`；`409 VOTE_CANDIDATE_TODAY` 评选中今天已投过该候选人；
    `409 VOTE_BUSY` 并发冲突，请重试。
    """
    key = idempotency_key(request.headers.get("Idempotency-Key", ""))
    result = actions.cast_ballot(
        activity_id=activity_id, member=_member(request), candidate_ids=body.choices, request_key=key
    )
    return Status(*cast_answer(result))


def idempotency_key(value: str) -> str:
    """The ``Idempotency-Key`` header's value, checked (≤ 64 characters)."""
    key = value.strip()
    if len(key) > 64:
        raise ApiError(400, "IDEMPOTENCY_KEY_TOO_LONG", "Idempotency-Key 不能超过 64 个字符。")
    return key


def cast_answer(result: actions.CastResult) -> tuple[int, dict[str, Any]]:
    """The status and body of a cast (the session path and the hot lane answer alike)."""
    out = {
        "candidate_ids": result.candidate_ids,
        "receipt": selectors.format_receipt(result.receipt) if result.receipt else "",
        "ballot_id": result.ballot_id,
        "day": result.day,
        "seq": result.seq,
        "remaining_today": result.remaining_today,
        "replayed": result.replayed,
    }
    return (200 if result.replayed else 201), out


@router.get(
    "/{activity_id}/vote/me",
    auth=member_auth,
    response={200: MineOut, **responses(404)},
    operation_id="get_my_vote",
    summary="我的投票：能否投票、今天已投",
)
def get_mine(request: HttpRequest, activity_id: int) -> dict[str, Any]:
    activity = _public_vote(activity_id)
    member = _member(request)
    answer = eligibility.check(activity, member)
    rules = VoteRules.of(activity)
    return {
        "eligible": answer.ok,
        "code": answer.code,
        "reason": answer.reason,
        "ballots_today": selectors.ballots_today(activity, member, rules) if member else 0,
        "voted_today": sorted(selectors.voted_today(activity, member, rules)) if member else [],
    }


# --- the organiser ------------------------------------------------------------------------


@router.get(
    "/{activity_id}/vote/candidates",
    response={200: list[CandidateOut], **responses(404)},
    operation_id="list_vote_candidates",
    summary="候选人列表（干部，含草稿）",
)
def list_candidates(request: HttpRequest, activity_id: int) -> list[Candidate]:
    return selectors.candidates(_cadre_vote(request, activity_id, Perm.ACTIVITY_VIEW))


@router.post(
    "/{activity_id}/vote/candidates",
    response={201: CandidateOut, **responses(404, 409)},
    operation_id="add_vote_candidate",
    summary="添加候选人（投票开始前）",
)
def add_candidate(request: HttpRequest, activity_id: int, body: CandidateIn) -> Status[Any]:
    """投票开始后返回 `409 VOTE_CANDIDATES_FROZEN`。"""
    activity = _cadre_vote(request, activity_id, Perm.ACTIVITY_MANAGE)
    return Status(201, actions.add_candidate(actor=current_user(request), activity=activity, values=body.dict()))


@router.patch(
    "/{activity_id}/vote/candidates/{int:candidate_id}",
    response={200: CandidateOut, **responses(404, 409)},
    operation_id="update_vote_candidate",
    summary="修改候选人（投票开始前）",
)
def update_candidate(request: HttpRequest, activity_id: int, candidate_id: int, body: CandidatePatch) -> Candidate:
    activity = _cadre_vote(request, activity_id, Perm.ACTIVITY_MANAGE)
    values = body.dict(exclude_unset=True, exclude={"clear_photo"})
    return actions.update_candidate(
        actor=current_user(request),
        candidate=_candidate(activity, candidate_id),
        values={k: v for k, v in values.items() if v is not None},
        clear_photo=body.clear_photo,
    )


@router.post(
    "/{activity_id}/vote/candidates/{int:candidate_id}/photo",
    response={200: CandidateOut, **responses(404, 409)},
    operation_id="set_vote_candidate_photo",
    summary="上传候选人照片（multipart，字段 photo）",
)
def set_photo(request: HttpRequest, activity_id: int, candidate_id: int, photo: File[UploadedFile]) -> Candidate:
    """PNG、JPEG 或 WebP，不超过 2 MB（`400 VOTE_PHOTO_*`）。"""
    activity = _cadre_vote(request, activity_id, Perm.ACTIVITY_MANAGE)
    return actions.update_candidate(
        actor=current_user(request), candidate=_candidate(activity, candidate_id), values={}, photo=photo
    )


@router.delete(
    "/{activity_id}/vote/candidates/{int:candidate_id}",
    response={204: None, **responses(404, 409)},
    operation_id="remove_vote_candidate",
    summary="删除候选人（投票开始前）",
)
def remove_candidate(request: HttpRequest, activity_id: int, candidate_id: int) -> Status[Any]:
    activity = _cadre_vote(request, activity_id, Perm.ACTIVITY_MANAGE)
    actions.remove_candidate(actor=current_user(request), candidate=_candidate(activity, candidate_id))
    return Status(204, None)


@router.put(
    "/{activity_id}/vote/candidates/order",
    response={200: list[CandidateOut], **responses(404, 409)},
    operation_id="reorder_vote_candidates",
    summary="调整候选人顺序（投票开始前）",
)
def reorder_candidates(request: HttpRequest, activity_id: int, body: OrderIn) -> list[Candidate]:
    """须列出全部候选人 ID 各一次（否则 `400 VOTE_ORDER_MISMATCH`）。"""
    activity = _cadre_vote(request, activity_id, Perm.ACTIVITY_MANAGE)
    actions.reorder_candidates(actor=current_user(request), activity=activity, ordered_ids=body.candidate_ids)
    return selectors.candidates(activity)


@router.get(
    "/{activity_id}/vote/organiser-results",
    response={200: ResultsOut, **responses(404)},
    operation_id="get_vote_organiser_results",
    summary="主办方查看结果（记名投票可实时查看；无记名投票结束后）",
)
def get_organiser_results(request: HttpRequest, activity_id: int) -> dict[str, Any]:
    activity = _cadre_vote(request, activity_id, Perm.ACTIVITY_VIEW)
    return _results_out(selectors.results(activity, for_organiser=True))
