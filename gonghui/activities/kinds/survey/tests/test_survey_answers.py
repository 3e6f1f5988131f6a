"""Answers are checked on the server: types, ranges, required questions and branching."""

from __future__ import annotations

from typing import Any

import pytest

from gonghui.activities.kinds.survey import actions
from gonghui.activities.kinds.survey.models import Answer, Response
from gonghui.activities.kinds.survey.tests.helpers import add, branching_survey, make_survey, publish
from gonghui.activities.models import Participation
from gonghui.conftest import Tree, make_member
from gonghui.core.errors import Conflict, InvalidValue

pytestmark = pytest.mark.django_db


def submit(survey: Any, member: Any, raw: dict[Any, Any]) -> Response:
    return actions.submit_response(activity=survey, member=member, answers_raw=raw)


def errors_of(survey: Any, member: Any, raw: dict[Any, Any]) -> dict[str, str]:
    with pytest.raises(actions.AnswersInvalid) as caught:
        submit(survey, member, raw)
    errors: dict[str, str] = caught.value.details["errors"]
    return errors


def test_a_full_answer_on_the_main_path_is_stored_with_clean_types(tree: Tree) -> None:
    survey, (q1, q2, q3, q4, q5, q6) = branching_survey(tree.tianhe)
    publish(survey)
    member = make_member(tree.tianhe_union, "王一")
    response = submit(
        survey,
        member,
        {
            q1.pk: "参加过",
            q2.pk: "4",
            str(q3.pk): "12.5",
            q4.pk: "  多组织篮球赛 ",
            q5.pk: ["文体活动", "法律援助"],
            q6.pk: "2021-03-01",
        },
    )
    stored = dict(Answer.objects.filter(response=response).values_list("question_id", "value"))
    # Multiple choices keep the options' order, numbers become numbers, texts are trimmed.
    assert stored == {
        q1.pk: "参加过",
        q2.pk: 4,
        q3.pk: 12.5,
        q4.pk: "多组织篮球赛",
        q5.pk: ["法律援助", "文体活动"],
        q6.pk: "2021-03-01",
    }
    assert response.member_id == member.pk and response.submitted_at is not None
    assert Participation.objects.filter(activity=survey, member=member).count() == 1


def test_the_branch_skips_a_required_question_and_refuses_an_answer_to_it(tree: Tree) -> None:
    survey, (q1, q2, q3, _q4, q5, _q6) = branching_survey(tree.tianhe)
    publish(survey)
    member = make_member(tree.tianhe_union, "王二")
    # 没参加过 jumps to Q3: the required rating Q2 must then stay empty.
    errors = errors_of(survey, member, {q1.pk: "没参加过", q2.pk: 5, q3.pk: 8, q5.pk: ["技能培训"]})
    assert errors == {str(q2.pk): "根据前面的选择，此题应跳过，请不要作答。"}
    response = submit(survey, member, {q1.pk: "没参加过", q3.pk: 8, q5.pk: ["技能培训"]})
    assert set(Answer.objects.filter(response=response).values_list("question_id", flat=True)) == {q1.pk, q3.pk, q5.pk}


def test_every_bad_answer_is_named_with_its_reason(tree: Tree) -> None:
    survey, (q1, q2, q3, q4, q5, q6) = branching_survey(tree.tianhe)
    publish(survey)
    member = make_member(tree.tianhe_union, "王三")
    errors = errors_of(
        survey,
        member,
        {
            q1.pk: "也许",
            q2.pk: "9",
            q3.pk: "七十",
            q4.pk: "x" * 2001,
            q5.pk: ["法律援助", "技能培训", "文体活动"],
            q6.pk: "2021-02-30",
        },
    )
    assert errors == {
        str(q1.pk): "请从给出的选项中选择。",
        str(q2.pk): "评分应在 1–5 之间。",
        str(q3.pk): "请填写数字。",
        str(q4.pk): "请不要超过 2000 个字。",
        str(q5.pk): "最多只能选择 2 项。",
        str(q6.pk): "请填写有效的日期（如 2026-05-01）。",
    }
    assert errors_of(survey, member, {q1.pk: "参加过", q2.pk: 3, q3.pk: 61, q5.pk: ["法律援助"]}) == {
        str(q3.pk): "不能大于 60。"
    }
    # Nothing was written by the refused attempts.
    assert not Response.objects.exists() and not Participation.objects.exists()


def test_required_questions_on_the_path_must_be_answered(tree: Tree) -> None:
    survey, (q1, q2, q3, _q4, q5, _q6) = branching_survey(tree.tianhe)
    publish(survey)
    member = make_member(tree.tianhe_union, "王四")
    errors = errors_of(survey, member, {q1.pk: "参加过"})
    assert errors == {str(q2.pk): "此题为必答题。", str(q3.pk): "此题为必答题。", str(q5.pk): "此题为必答题。"}


def test_a_jump_to_the_end_finishes_the_survey(tree: Tree) -> None:
    survey = make_survey(tree.tianhe)
    q1 = add(survey, "single", "您是本单位职工吗？", options=[{"label": "是"}, {"label": "不是", "goto": "end"}])
    q2 = add(survey, "text", "您的岗位")
    publish(survey)
    member = make_member(tree.tianhe_union, "王五")
    assert errors_of(survey, member, {q1.pk: "是"}) == {str(q2.pk): "此题为必答题。"}
    response = submit(survey, member, {q1.pk: "不是"})
    assert Answer.objects.filter(response=response).count() == 1


def test_a_second_response_is_refused(tree: Tree) -> None:
    survey, (q1, _q2, q3, _q4, q5, _q6) = branching_survey(tree.tianhe)
    publish(survey)
    member = make_member(tree.tianhe_union, "王六")
    answers = {q1.pk: "没参加过", q3.pk: 0, q5.pk: ["困难帮扶"]}
    submit(survey, member, answers)
    with pytest.raises(Exception) as caught:
        submit(survey, member, answers)
    # The eligibility answer already says so; the action refuses with the same code.
    assert getattr(caught.value, "code", "") == "SURVEY_ALREADY_SUBMITTED"
    assert Response.objects.count() == 1


def test_jumps_only_go_forward_and_questions_freeze_once_open(tree: Tree) -> None:
    survey, (q1, q2, q3, _q4, _q5, q6) = branching_survey(tree.tianhe)
    with pytest.raises(InvalidValue) as caught:
        actions.update_question(
            actor=None, question=q3, values={"kind": "single", "options": [{"label": "甲", "goto": q1.pk}, "乙"]}
        )
    assert caught.value.code == "SURVEY_GOTO_BACKWARD"
    # Moving the jump's target above its source is refused too (the move rolls back).
    with pytest.raises(InvalidValue):
        actions.move_question(actor=None, question=q3, offset=-1)
        actions.move_question(actor=None, question=q3, offset=-1)
    assert [q.pk for q in actions.questions_of(survey)][:3] == [q1.pk, q3.pk, q2.pk]
    # Deleting the target of a jump is refused until the jump is changed.
    with pytest.raises(InvalidValue) as caught:
        actions.delete_question(actor=None, question=q3)
    assert caught.value.code == "SURVEY_GOTO_MISSING"
    actions.delete_question(actor=None, question=q6)
    assert [q.order for q in actions.questions_of(survey)] == [1, 2, 3, 4, 5]
    publish(survey)
    with pytest.raises(Conflict) as frozen:
        add(survey, "text", "迟到的题目")
    assert frozen.value.code == "SURVEY_QUESTIONS_FROZEN"


def test_a_survey_without_questions_cannot_be_published(tree: Tree) -> None:
    survey = make_survey(tree.tianhe)
    with pytest.raises(Conflict) as caught:
        publish(survey)
    assert caught.value.code == "SURVEY_NO_QUESTIONS"
