"""``/api/v1/activities/{id}/quiz/…`` and ``/api/v1/activities/quiz/bank/…``: the quiz (答题).

- the member (portal session): start (or resume) an attempt — the questions come without
  answers —, hand it in and get the score with the answers and explanations, the
  leaderboard;
- the organiser (cadre session, scoped through ``core.access``; another subtree's quiz or
  bank is 404): results, the union's question bank.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema, Status
from pydantic import ConfigDict

from gonghui.activities import selectors as activity_selectors
from gonghui.activities.kinds.quiz import actions, selectors
from gonghui.activities.kinds.quiz.kind import QuizRules
from gonghui.activities.kinds.quiz.models import Attempt, QuizQuestion, QuizQuestionKind
from gonghui.activities.models import Activity
from gonghui.api import activity_common
from gonghui.api.auth import AccountSessionAuth, caller_member, current_user
from gonghui.api.errors import responses
from gonghui.core import access
from gonghui.core.access import Perm
from gonghui.members.models import Member
from gonghui.orgs.models import Org

router = Router(tags=["活动-答题 activities"])
member_auth = AccountSessionAuth()


_not_found = activity_common.not_found


def _member_quiz(request: HttpRequest, activity_id: int) -> tuple[Activity, Member | None]:
    member = caller_member(request)
    return activity_common.public_activity(activity_id, "quiz"), member


def _my_attempt(activity: Activity, member: Member | None, number: int) -> Attempt:
    if member is None:
        raise _not_found()
    attempt = Attempt.objects.select_related("activity").filter(activity=activity, member=member, number=number).first()
    if attempt is None:
        raise _not_found()
    return actions.close_if_overdue(attempt)


class OptionOut(Schema):
    index: int = Field(..., description="选项序号（从 0 起），作答时提交它")
    letter: str = Field(..., description="选项字母 A、B、C…")
    label: str = Field(..., description="选项文字")


class PaperQuestionOut(Schema):
    id: int = Field(..., description="题目 ID")
    number: int = Field(..., description="本次答题中的题号")
    kind: QuizQuestionKind = Field(..., description="single 单选、multiple 多选、truefalse 判断")
    text: str
    options: list[OptionOut]


class ReviewOptionOut(OptionOut):
    chosen: bool = Field(..., description="是否为我的选择")
    correct: bool = Field(..., description="是否为正确答案")


class ReviewQuestionOut(Schema):
    id: int
    number: int
    text: str
    options: list[ReviewOptionOut]
    chosen: str = Field(..., description="我的答案（字母）")
    correct: str = Field(..., description="正确答案（字母）")
    right: bool = Field(..., description="是否答对")
    explanation: str = Field(..., description="解析")


class AttemptOut(Schema):
    number: int = Field(..., description="第几次答题")
    started_at: datetime
    deadline: datetime = Field(..., description="截止时间；超过截止时间 10 秒后提交的答案不计分")
    remaining_seconds: int = Field(..., description="剩余秒数（未交卷时）")
    submitted_at: datetime | None = None
    score: int | None = Field(None, description="得分（0–100）")
    correct_count: int | None = None
    passed: bool | None = None
    timed_out: bool = Field(False, description="超时：按截止时未作答计分")
    questions: list[PaperQuestionOut] = Field([], description="未交卷时的题目（不含答案）")
    review: list[ReviewQuestionOut] = Field([], description="交卷后的答案与解析")


class SubmitIn(Schema):
    model_config = ConfigDict(extra="forbid")

    answers: dict[str, list[int]] = Field(
        ..., description="题目 ID → 选择的选项序号数组（单选、判断只选一个）", examples=[{"31": [2], "35": [0, 1, 3]}]
    )


class LeaderRowOut(Schema):
    rank: int
    name: str = Field(..., description="姓名（脱敏）")
    org: str = Field(..., description="所在工会")
    score: int
    seconds: float = Field(..., description="用时（秒）")


class ResultsOut(Schema):
    attempts: int = Field(..., description="交卷次数")
    members: int = Field(..., description="答题人数")
    passed_members: int = Field(..., description="及格人数")
    average: float | None = Field(None, description="平均分")
    pass_score: int
    leaderboard: list[LeaderRowOut]


class BankQuestionOut(Schema):
    id: int
    org_id: int
    kind: QuizQuestionKind
    text: str
    options: list[str]
    correct: list[int] = Field(..., description="正确选项序号")
    explanation: str
    tags: list[str]
    is_active: bool


class BankQuestionIn(Schema):
    model_config = ConfigDict(extra="forbid")

    kind: QuizQuestionKind
    text: str = Field(..., min_length=1, max_length=500)
    options: list[str] = Field([], description="选项（判断题不用填）")
    correct: list[int] = Field(..., description="正确选项序号（从 0 起；判断题 0 为正确、1 为错误）")
    explanation: str = Field("", max_length=2000)
    tags: list[str] = Field([], description="标签")


class BankQuestionPatch(Schema):
    model_config = ConfigDict(extra="forbid")

    kind: QuizQuestionKind | None = None
    text: str | None = Field(None, max_length=500)
    options: list[str] | None = None
    correct: list[int] | None = None
    explanation: str | None = Field(None, max_length=2000)
    tags: list[str] | None = None
    is_active: bool | None = Field(None, description="false 停用（不再被抽到），true 启用")


def _attempt_out(attempt: Attempt) -> dict[str, Any]:
    out: dict[str, Any] = {
        "number": attempt.number,
        "started_at": attempt.started_at,
        "deadline": attempt.deadline,
        "remaining_seconds": 0,
        "submitted_at": attempt.submitted_at,
        "score": attempt.score,
        "correct_count": attempt.correct_count,
        "passed": attempt.passed,
        "timed_out": attempt.timed_out,
    }
    if attempt.submitted_at is None:
        out["remaining_seconds"] = max(0, int((attempt.deadline - timezone.now()).total_seconds()))
        out["questions"] = selectors.paper(attempt)
    else:
        out["review"] = selectors.review(attempt)
    return out


@router.post(
    "/{activity_id}/quiz/attempts",
    auth=member_auth,
    response={201: AttemptOut, **responses(404, 409)},
    operation_id="start_quiz_attempt",
    summary="开始答题（或继续未交卷的一次）",
)
def start_attempt(request: HttpRequest, activity_id: int) -> Status[dict[str, Any]]:
    """题目由服务器随机抽取并保存；返回的题目不含答案和解析。

    错误代码：`403 NOT_ELIGIBLE` 类（`QUIZ_NO_ATTEMPTS_LEFT` 次数用完、`ACTIVITY_ENDED`、`AUDIENCE_*` 等）；
    `409 QUIZ_NO_ATTEMPTS_LEFT`；`409 QUIZ_BANK_TOO_SMALL`。
    """
    activity, member = _member_quiz(request, activity_id)
    return Status(201, _attempt_out(actions.start_attempt(activity=activity, member=member)))


@router.get(
    "/{activity_id}/quiz/attempts/{number}",
    auth=member_auth,
    response={200: AttemptOut, **responses(404)},
    operation_id="get_quiz_attempt",
    summary="我的一次答题：未交卷时为题目（不含答案），交卷后为成绩、答案与解析",
)
def get_attempt(request: HttpRequest, activity_id: int, number: int) -> dict[str, Any]:
    activity, member = _member_quiz(request, activity_id)
    return _attempt_out(_my_attempt(activity, member, number))


@router.post(
    "/{activity_id}/quiz/attempts/{number}/submit",
    auth=member_auth,
    response={200: AttemptOut, **responses(404, 409)},
    operation_id="submit_quiz_attempt",
    summary="交卷：服务器评分，返回成绩、答案与解析",
)
def submit_attempt(request: HttpRequest, activity_id: int, number: int, body: SubmitIn) -> dict[str, Any]:
    """超过截止时间 10 秒后交卷返回 `409 QUIZ_TIME_UP`：答案不计，本次按截止时未作答计分。
    重复交卷返回 `409 QUIZ_ALREADY_SUBMITTED`。"""
    activity, member = _member_quiz(request, activity_id)
    attempt = _my_attempt(activity, member, number)
    done = actions.submit_attempt(attempt=attempt, member=member, answers=body.answers)
    return _attempt_out(done)


@router.get(
    "/{activity_id}/quiz/leaderboard",
    auth=member_auth,
    response={200: list[LeaderRowOut], **responses(404)},
    operation_id="get_quiz_leaderboard",
    summary="排行榜（每人最好成绩；姓名脱敏）",
)
def get_leaderboard(request: HttpRequest, activity_id: int) -> list[dict[str, Any]]:
    activity, _member = _member_quiz(request, activity_id)
    if not QuizRules.of(activity).leaderboard:
        return []
    return selectors.leaderboard(activity)


@router.get(
    "/{activity_id}/quiz/results",
    response={200: ResultsOut, **responses(404)},
    operation_id="get_quiz_results",
    summary="答题统计（主办方）",
)
def get_results(request: HttpRequest, activity_id: int) -> dict[str, Any]:
    activity = activity_selectors.get_for_cadre(current_user(request), activity_id, Perm.ACTIVITY_VIEW)
    if activity.kind != "quiz":
        raise _not_found()
    return selectors.results(activity, for_organiser=True)


class BankFilters(Schema):
    tag: str | None = Field(None, max_length=20, description="只列出带此标签的题目")


@router.get(
    "/quiz/bank/{org_id}",
    response={200: list[BankQuestionOut], **responses(404)},
    operation_id="list_quiz_bank",
    summary="工会题库（主办方）",
)
def list_bank(request: HttpRequest, org_id: int, filters: Query[BankFilters]) -> list[QuizQuestion]:
    org: Org = access.get_object_or_404(current_user(request), Org.objects.all(), Perm.ACTIVITY_VIEW, pk=org_id)
    rows = list(QuizQuestion.objects.filter(org=org).order_by("-pk")[:2000])
    return [q for q in rows if not filters.tag or filters.tag in (q.tags or [])]


@router.post(
    "/quiz/bank/{org_id}",
    response={201: BankQuestionOut, **responses(400, 404)},
    operation_id="add_quiz_bank_question",
    summary="向工会题库添加题目",
)
def add_bank_question(request: HttpRequest, org_id: int, body: BankQuestionIn) -> Status[QuizQuestion]:
    user = current_user(request)
    org: Org = access.get_object_or_404(user, Org.objects.all(), Perm.ACTIVITY_MANAGE, pk=org_id)
    return Status(201, actions.add_bank_question(actor=user, org=org, values=body.dict()))


@router.patch(
    "/quiz/bank/{org_id}/{question_id}",
    response={200: BankQuestionOut, **responses(400, 404, 409)},
    operation_id="update_quiz_bank_question",
    summary="修改、停用或启用题库中的题目",
)
def update_bank_question(request: HttpRequest, org_id: int, question_id: int, body: BankQuestionPatch) -> QuizQuestion:
    """本工会有进行中的答题活动时，修改题目、选项或答案返回 `409 QUIZ_BANK_IN_USE`（解析、标签和停用不受限）。"""
    user = current_user(request)
    org: Org = access.get_object_or_404(user, Org.objects.all(), Perm.ACTIVITY_MANAGE, pk=org_id)
    question = QuizQuestion.objects.filter(pk=question_id, org=org).first()
    if question is None:
        raise _not_found()
    values = body.dict(exclude_unset=True)
    active = values.pop("is_active", None)
    if values:
        question = actions.update_bank_question(actor=user, question=question, values=values)
    if active is not None:
        question = actions.set_bank_question_active(actor=user, question=question, active=active)
    return question
