"""Anonymous responses, results per question, the export, and the organiser's API."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from gonghui.activities import actions as activity_actions
from gonghui.activities.kinds.survey import actions
from gonghui.activities.kinds.survey.kind import KIND
from gonghui.activities.kinds.survey.models import Answer, Response
from gonghui.activities.kinds.survey.tests.helpers import branching_survey, publish
from gonghui.activities.models import Participation
from gonghui.conftest import Tree, make_member
from gonghui.core.models import AuditEvent

pytestmark = pytest.mark.django_db

NAMES = ["赵一", "钱二", "孙三", "李四", "周五", "吴六", "郑七", "王八"]


def answer_all(survey: Any, questions: list[Any], *, org: Any) -> list[Any]:
    q1, q2, q3, q4, q5, _q6 = questions
    members = []
    for i, name in enumerate(NAMES):
        member = make_member(org, name)
        members.append(member)
        if i % 2:
            raw = {q1.pk: "没参加过", q3.pk: i * 3, q5.pk: ["技能培训"], q4.pk: f"建议{i}"}
        else:
            raw = {q1.pk: "参加过", q2.pk: 5 - i % 3, q3.pk: i, q5.pk: ["法律援助", "文体活动"]}
        actions.submit_response(activity=survey, member=member, answers_raw=raw)
    return members


def physical_order(model: Any, activity: Any) -> list[Any]:
    table = model._meta.db_table
    column = "ctid" if connection.vendor == "postgresql" else "rowid"
    where = (
        "activity_id = %s"
        if model is Response
        else "response_id IN (SELECT id FROM activity_survey_response WHERE activity_id = %s)"
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {table} WHERE {where} ORDER BY {column}", [activity.pk])  # noqa: S608
        return [row[0] for row in cursor.fetchall()]


def test_anonymous_responses_carry_nothing_that_links_them_to_a_member(tree: Tree) -> None:
    survey, questions = branching_survey(tree.tianhe, anonymous=True)
    publish(survey)
    answer_all(survey, questions, org=tree.tianhe_union)
    assert Participation.objects.filter(activity=survey).count() == len(NAMES)
    rows = list(Response.objects.filter(activity=survey).values())
    assert len(rows) == len(NAMES)
    for row in rows:
        assert row["member_id"] is None and row["submitted_at"] is None and row["org_path"] == ""
    # No column is an insertion counter: the keys are random UUIDs, the only time is a date.
    for model in (Response, Answer):
        for field in model._meta.concrete_fields:
            assert field.get_internal_type() not in ("AutoField", "BigAutoField"), field
    assert [f.name for f in Response._meta.concrete_fields if f.get_internal_type() == "DateTimeField"] == [
        "submitted_at"  # always empty when anonymous (checked above)
    ]
    # At close the rows are rewritten in the order of their random keys: physical order
    # (rowid / ctid) no longer follows the submissions, and on PostgreSQL every row has
    # the same writing transaction.
    activity_actions.close_activity(actor=None, activity=survey)
    ids = physical_order(Response, survey)
    assert len(ids) == len(NAMES) and [str(i) for i in ids] == sorted(str(i) for i in ids)
    assert Response.objects.filter(activity=survey, mixed=False).count() == 0
    assert Answer.objects.filter(response__activity=survey).count() == 4 * 4 + 4 * 4
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT COUNT(DISTINCT xmin::text) FROM activity_survey_response WHERE activity_id = %s", [survey.pk]
            )
            assert cursor.fetchone()[0] == 1


def test_named_surveys_keep_the_member_and_union(tree: Tree) -> None:
    survey, questions = branching_survey(tree.tianhe)
    publish(survey)
    members = answer_all(survey, questions, org=tree.tianhe_union)
    rows = Response.objects.filter(activity=survey)
    assert {r.member_id for r in rows} == {m.pk for m in members}
    assert {r.org_path for r in rows} == {tree.tianhe_union.path}


def test_results_count_choices_ratings_numbers_and_list_texts(tree: Tree) -> None:
    survey, questions = branching_survey(tree.tianhe)
    publish(survey)
    answer_all(survey, questions, org=tree.tianhe_union)
    results = KIND.results(survey, for_organiser=True)
    assert results["responses"] == 8
    by_order = {q["order"]: q for q in results["questions"]}
    assert by_order[1]["labels"] == ["参加过", "没参加过"] and by_order[1]["counts"] == [4, 4]
    # Ratings given by i = 0, 2, 4, 6: 5, 3, 4, 5.
    assert by_order[2]["labels"] == ["1", "2", "3", "4", "5"] and by_order[2]["counts"] == [0, 0, 1, 1, 2]
    assert by_order[2]["average"] == 4.25
    assert by_order[3]["chart"] == "histogram" and sum(by_order[3]["counts"]) == 8
    assert sorted(by_order[4]["texts"]) == ["建议1", "建议3", "建议5", "建议7"]
    assert by_order[5]["counts"] == [4, 4, 4, 0]
    # Members see nothing unless the organiser publishes results, and never the texts.
    assert KIND.results(survey, for_organiser=False)["hidden"] is True
    survey.settings = {**survey.settings, "results_public": True}
    public = KIND.results(survey, for_organiser=False)
    assert public["questions"][3]["texts"] == []


def test_the_export_masks_names_or_leaves_them_out_when_anonymous(tree: Tree) -> None:
    named, questions = branching_survey(tree.tianhe)
    publish(named)
    answer_all(named, questions, org=tree.tianhe_union)
    headers, rows = activity_actions.export_activity(actor=None, activity=named, file_format="csv")
    assert headers[:3] == ["姓名", "所在工会", "提交时间"] and headers[3] == "1. 您参加过工会组织的活动吗？"
    assert {r[0] for r in rows} == {n[0] + "*" for n in NAMES}
    assert {r[1] for r in rows} == {tree.tianhe_union.name}
    assert not any(n in str(rows) for n in NAMES)
    assert {r[7] for r in rows} == {"法律援助、文体活动", "技能培训"}

    anonymous, questions = branching_survey(tree.tianhe_street, anonymous=True)
    publish(anonymous)
    answer_all(anonymous, questions, org=tree.tianhe_union)
    headers, rows = activity_actions.export_activity(actor=None, activity=anonymous, file_format="xlsx")
    assert headers[0] == "答卷编号" and "姓名" not in headers and len(rows) == 8
    flat = " ".join(str(v) for row in rows for v in row)
    assert not any(n[0] + "*" in flat or n in flat for n in NAMES)
    assert tree.tianhe_union.name not in flat
    # Anonymous rows come in the order of their random keys, never in submission order.
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)
    assert AuditEvent.objects.filter(action="activity.export").count() == 2
