"""Building a quiz the way the console does: a bank of questions, then the activity."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from gonghui.activities import actions as activity_actions
from gonghui.activities.kinds.quiz import actions
from gonghui.activities.kinds.quiz.models import QuizQuestion
from gonghui.activities.models import Activity
from gonghui.orgs.models import Org

# Every explanation carries this marker: it must never reach a member before they submit.
SECRET = "解析标记"


def fill_bank(org: Org, count: int = 6, *, tag: str = "劳动法") -> list[QuizQuestion]:
    questions = []
    for i in range(count):
        if i % 3 == 0:
            values = {"kind": "truefalse", "text": f"劳动合同应当采用书面形式（{i}）", "correct": "对"}
        elif i % 3 == 1:
            values = {
                "kind": "single",
                "text": f"试用期最长不超过几个月？（{i}）",
                "options": ["1", "3", "6", "12"],
                "correct": "C",
            }
        else:
            values = {
                "kind": "multiple",
                "text": f"下列哪些属于工会职责？（{i}）",
                "options": ["维权", "服务", "炒股", "建家"],
                "correct": "ABD",
            }
        values.update({"explanation": f"{SECRET}{i}：依据《劳动合同法》。", "tags": [tag]})
        questions.append(actions.add_bank_question(actor=None, org=org, values=values))
    return questions


def make_quiz(org: Org, *, publish: bool = True, **settings: Any) -> Activity:
    now = timezone.now()
    quiz = activity_actions.create_activity(
        actor=None,
        org=org,
        kind="quiz",
        values={"title": "劳动法知识答题", "starts_at": now - timedelta(hours=1), "ends_at": now + timedelta(days=3)},
        settings={
            "question_count": 3,
            "time_limit_seconds": 120,
            "max_attempts": 2,
            "pass_score": 60,
            "leaderboard": True,
            **settings,
        },
    )
    if publish:
        activity_actions.publish_activity(actor=None, activity=quiz)
        quiz.refresh_from_db()
    return quiz


def right_answers(question_ids: list[int]) -> dict[str, list[int]]:
    return {str(q.pk): q.correct for q in QuizQuestion.objects.filter(pk__in=question_ids)}
