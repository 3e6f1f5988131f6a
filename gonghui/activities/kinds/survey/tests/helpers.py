"""Building surveys the way the console does: through the actions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from gonghui.activities import actions as activity_actions
from gonghui.activities.kinds.survey import actions
from gonghui.activities.kinds.survey.models import Question
from gonghui.activities.models import Activity
from gonghui.orgs.models import Org


def make_survey(org: Org, *, anonymous: bool = False, title: str = "职工满意度调查", **settings: Any) -> Activity:
    now = timezone.now()
    return activity_actions.create_activity(
        actor=None,
        org=org,
        kind="survey",
        values={"title": title, "starts_at": now - timedelta(hours=1), "ends_at": now + timedelta(days=7)},
        settings={"anonymous": anonymous, **settings},
    )


def add(activity: Activity, kind: str, title: str, **values: Any) -> Question:
    return actions.add_question(actor=None, activity=activity, values={"kind": kind, "title": title, **values})


def branching_survey(org: Org, *, anonymous: bool = False) -> tuple[Activity, list[Question]]:
    """Q1 single (是 → Q2, 否 → Q3), Q2 rating, Q3 number 0–60, Q4 text optional, Q5 multiple,
    Q6 date optional; 否 on Q1 skips Q2."""
    survey = make_survey(org, anonymous=anonymous)
    q1 = add(survey, "single", "您参加过工会组织的活动吗？", options=["参加过", "没参加过"])
    q2 = add(survey, "rating", "请给活动打分", min_value=1, max_value=5)
    q3 = add(survey, "number", "您每周加班多少小时？", min_value=0, max_value=60)
    q4 = add(survey, "text", "您对工会有什么建议？", required=False)
    q5 = add(
        survey,
        "multiple",
        "您希望工会提供哪些服务？",
        options=["法律援助", "技能培训", "文体活动", "困难帮扶"],
        max_value=2,
    )
    q6 = add(survey, "date", "您的入职日期", required=False)
    actions.update_question(
        actor=None,
        question=q1,
        values={"options": [{"label": "参加过", "goto": None}, {"label": "没参加过", "goto": q3.pk}]},
    )
    q1.refresh_from_db()
    return survey, [q1, q2, q3, q4, q5, q6]


def publish(activity: Activity) -> Activity:
    activity_actions.publish_activity(actor=None, activity=activity)
    activity.refresh_from_db()
    return activity
