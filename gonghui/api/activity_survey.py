"""``/api/v1/activities/{id}/survey/…``: the survey (问卷).

- the member (portal session): the questions with their jumps, submitting answers;
- the organiser (cadre session, scoped through ``core.access``; another subtree's
  survey is 404): questions before the survey opens (add, change, move, delete), results.
  The answers export is the generic ``GET /api/v1/activities/{id}/export``.
"""

from __future__ import annotations

from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from pydantic import ConfigDict

from gonghui.activities import eligibility
from gonghui.activities.kinds.survey import actions
from gonghui.activities.kinds.survey.kind import KIND
from gonghui.activities.kinds.survey.models import Question, QuestionKind
from gonghui.activities.models import Activity, Participation
from gonghui.api import activity_common
from gonghui.api.auth import AccountSessionAuth, caller_member, current_user
from gonghui.api.errors import responses
from gonghui.core.access import Perm
from gonghui.members.models import Member

router = Router(tags=["活动-问卷 activities"])
member_auth = AccountSessionAuth()


_not_found = activity_common.not_found


def _member_survey(request: HttpRequest, activity_id: int) -> tuple[Activity, Member | None]:
    member = caller_member(request)
    return activity_common.public_activity(activity_id, "survey"), member


def _cadre_survey(request: HttpRequest, activity_id: int, perm: Perm) -> Activity:
    return activity_common.cadre_activity(request, activity_id, perm, "survey")


def _question(activity: Activity, question_id: int) -> Question:
    question = Question.objects.select_related("activity").filter(pk=question_id, activity=activity).first()
    if question is None:
        raise _not_found()
    return question


class OptionIO(Schema):
    label: str = Field(..., max_length=100, description="选项文字")
    goto: int | Literal["end"] | None = Field(
        None, description="仅单选题：选择此项后跳到的题目 ID（只能向后跳），`end` 为结束问卷，空为按顺序下一题"
    )


class QuestionOut(Schema):
    id: int = Field(..., description="题目 ID")
    order: int = Field(..., description="序号（从 1 起）")
    kind: QuestionKind = Field(
        ..., description="题型：single 单选、multiple 多选、text 填空、number 数字、rating 评分、date 日期"
    )
    title: str = Field(..., description="题目")
    help_text: str = Field(..., description="说明")
    required: bool = Field(..., description="是否必答（只对按跳题规则会出现的题目生效）")
    options: list[OptionIO] = Field(..., description="选择题的选项")
    min_value: int | None = Field(None, description="数字题下限 / 评分最低分 / 多选最少项数")
    max_value: int | None = Field(None, description="数字题上限 / 评分最高分 / 多选最多项数")


class SurveyOut(Schema):
    activity_id: int = Field(..., description="活动 ID")
    anonymous: bool = Field(..., description="是否匿名问卷（答卷不关联会员）")
    eligible: bool = Field(..., description="当前是否可以提交")
    reason_code: str = Field(..., description="不能提交时的原因代码，如 SURVEY_ALREADY_SUBMITTED")
    reason: str = Field(..., description="不能提交时的中文原因")
    submitted: bool = Field(..., description="本人是否已提交")
    questions: list[QuestionOut] = Field(..., description="题目（按顺序）")


class AnswersIn(Schema):
    model_config = ConfigDict(extra="forbid")

    answers: dict[str, Any] = Field(
        ...,
        description=(
            "题目 ID → 答案。单选：选项文字；多选：选项文字的数组；填空：文字；数字：数字；评分：整数；"
            "日期：YYYY-MM-DD。被跳题规则跳过的题目必须不填。"
        ),
        examples=[{"12": "参加过", "13": 4, "15": ["法律援助", "技能培训"]}],
    )


class SubmittedOut(Schema):
    submitted: bool = Field(..., description="已提交")
    anonymous: bool = Field(..., description="匿名问卷：答卷不关联会员")


class QuestionIn(Schema):
    model_config = ConfigDict(extra="forbid")

    kind: QuestionKind = Field(..., description="题型")
    title: str = Field(..., min_length=1, max_length=300, description="题目")
    help_text: str = Field("", max_length=300, description="说明")
    required: bool = Field(True, description="是否必答")
    options: list[OptionIO] = Field([], description="选择题的选项（至少 2 个）")
    min_value: int | None = Field(None, description="数字题下限 / 评分最低分（默认 1）/ 多选最少项数")
    max_value: int | None = Field(None, description="数字题上限 / 评分最高分（默认 5）/ 多选最多项数")


class QuestionPatch(Schema):
    model_config = ConfigDict(extra="forbid")

    kind: QuestionKind | None = None
    title: str | None = Field(None, max_length=300)
    help_text: str | None = Field(None, max_length=300)
    required: bool | None = None
    options: list[OptionIO] | None = None
    min_value: int | None = None
    max_value: int | None = None


class MoveIn(Schema):
    model_config = ConfigDict(extra="forbid")

    direction: Literal["up", "down"] = Field(..., description="up 上移一位，down 下移一位")


class ResultQuestionOut(Schema):
    id: int
    order: int
    title: str
    kind: QuestionKind
    answered: int = Field(..., description="作答人数")
    chart: Literal["bar", "histogram", "list"] = Field(..., description="bar 选项计数，histogram 分布，list 文字列表")
    labels: list[str] = Field([], description="选项 / 分值 / 区间")
    counts: list[int] = Field([], description="与 labels 对应的人数")
    average: float | None = Field(None, description="评分、数字题的平均值")
    texts: list[str] = Field([], description="填空题最近的回答（最多 50 条，匿名问卷不署名）")


class ResultsOut(Schema):
    responses: int = Field(..., description="答卷数")
    anonymous: bool
    questions: list[ResultQuestionOut]


@router.get(
    "/{activity_id}/survey",
    auth=member_auth,
    response={200: SurveyOut, **responses(404)},
    operation_id="get_survey",
    summary="问卷题目与我的状态（会员）",
)
def get_survey(request: HttpRequest, activity_id: int) -> dict[str, Any]:
    activity, member = _member_survey(request, activity_id)
    answer = eligibility.check(activity, member)
    submitted = member is not None and Participation.objects.filter(activity=activity, member=member).exists()
    return {
        "activity_id": activity.pk,
        "anonymous": actions.is_anonymous(activity),
        "eligible": answer.ok,
        "reason_code": answer.code,
        "reason": answer.reason,
        "submitted": submitted,
        "questions": actions.questions_of(activity),
    }


@router.post(
    "/{activity_id}/survey/responses",
    auth=member_auth,
    response={201: SubmittedOut, **responses(400, 404, 409)},
    operation_id="submit_survey",
    summary="提交问卷（会员本人，每人一份）",
)
def submit_survey(request: HttpRequest, activity_id: int, body: AnswersIn) -> Status[dict[str, bool]]:
    """答案在服务器端按题型、必答和跳题规则校验。

    错误代码：`400 SURVEY_ANSWERS_INVALID`（`details.errors` 为 题目 ID → 中文原因）；`403 NOT_ELIGIBLE` 类
    （`code` 为 `SURVEY_ALREADY_SUBMITTED`、`ACTIVITY_ENDED`、`AUDIENCE_*` 等）；
    并发重复提交 `409 SURVEY_ALREADY_SUBMITTED`。
    """
    activity, member = _member_survey(request, activity_id)
    actions.submit_response(activity=activity, member=member, answers_raw=body.answers)
    return Status(201, {"submitted": True, "anonymous": actions.is_anonymous(activity)})


@router.get(
    "/{activity_id}/survey/results",
    response={200: ResultsOut, **responses(404)},
    operation_id="get_survey_results",
    summary="问卷统计（主办方）",
)
def get_results(request: HttpRequest, activity_id: int) -> dict[str, Any]:
    activity = _cadre_survey(request, activity_id, Perm.ACTIVITY_VIEW)
    return KIND.results(activity, for_organiser=True)


@router.get(
    "/{activity_id}/survey/questions",
    response={200: list[QuestionOut], **responses(404)},
    operation_id="list_survey_questions",
    summary="问卷题目（主办方）",
)
def list_questions(request: HttpRequest, activity_id: int) -> list[Question]:
    return actions.questions_of(_cadre_survey(request, activity_id, Perm.ACTIVITY_VIEW))


@router.post(
    "/{activity_id}/survey/questions",
    response={201: QuestionOut, **responses(400, 404, 409)},
    operation_id="add_survey_question",
    summary="添加题目（问卷开始前）",
)
def add_question(request: HttpRequest, activity_id: int, body: QuestionIn) -> Status[Question]:
    """问卷开始后返回 `409 SURVEY_QUESTIONS_FROZEN`；跳题只能向后（`400 SURVEY_GOTO_BACKWARD`）。"""
    activity = _cadre_survey(request, activity_id, Perm.ACTIVITY_MANAGE)
    return Status(201, actions.add_question(actor=current_user(request), activity=activity, values=body.dict()))


@router.patch(
    "/{activity_id}/survey/questions/{question_id}",
    response={200: QuestionOut, **responses(400, 404, 409)},
    operation_id="update_survey_question",
    summary="修改题目或跳题（问卷开始前）",
)
def update_question(request: HttpRequest, activity_id: int, question_id: int, body: QuestionPatch) -> Question:
    activity = _cadre_survey(request, activity_id, Perm.ACTIVITY_MANAGE)
    values = body.dict(exclude_unset=True)
    return actions.update_question(
        actor=current_user(request), question=_question(activity, question_id), values=values
    )


@router.post(
    "/{activity_id}/survey/questions/{question_id}/move",
    response={200: QuestionOut, **responses(400, 404, 409)},
    operation_id="move_survey_question",
    summary="调整题目顺序（问卷开始前）",
)
def move_question(request: HttpRequest, activity_id: int, question_id: int, body: MoveIn) -> Question:
    activity = _cadre_survey(request, activity_id, Perm.ACTIVITY_MANAGE)
    offset = -1 if body.direction == "up" else 1
    return actions.move_question(actor=current_user(request), question=_question(activity, question_id), offset=offset)


@router.delete(
    "/{activity_id}/survey/questions/{question_id}",
    response={204: None, **responses(400, 404, 409)},
    operation_id="delete_survey_question",
    summary="删除题目（问卷开始前）",
)
def delete_question(request: HttpRequest, activity_id: int, question_id: int) -> Status[None]:
    """有选项跳转到此题时返回 `400 SURVEY_GOTO_MISSING`，请先修改跳转。"""
    activity = _cadre_survey(request, activity_id, Perm.ACTIVITY_MANAGE)
    actions.delete_question(actor=current_user(request), question=_question(activity, question_id))
    return Status(204, None)
