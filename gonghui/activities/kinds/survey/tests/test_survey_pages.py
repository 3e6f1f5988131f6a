"""The survey's console pages, portal panel and API: scoping, form errors, the one-page form."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from gonghui.activities.kinds.survey.models import Question, Response
from gonghui.activities.kinds.survey.tests.helpers import branching_survey, make_survey, publish
from gonghui.conftest import Tree, console_client
from gonghui.core.models import AuditEvent, User
from gonghui.members.models import Member

pytestmark = pytest.mark.django_db


def member_client(member: Member) -> Client:
    client = Client()
    assert member.user is not None
    client.force_login(member.user)
    return client


def test_organiser_adds_edits_moves_and_deletes_questions_in_the_console(tree: Tree, bob: User) -> None:
    survey = make_survey(tree.tianhe)
    client = console_client(bob)
    url = f"/console/activities/{survey.pk}/survey/questions/"
    assert client.get(url).status_code == 200
    response = client.post(url, {"kind": "single", "title": "您是否加班？", "required": "on", "options": "是\n否"})
    assert response.status_code == 302
    response = client.post(url, {"kind": "number", "title": "每周加班小时数", "required": "on", "min_value": 0})
    response = client.post(url, {"kind": "text", "title": "其他建议"})
    first, second, third = Question.objects.filter(activity=survey).order_by("order")
    # An option with a single label is refused next to the options field.
    response = client.post(url, {"kind": "multiple", "title": "服务", "options": "法律援助"})
    assert response.status_code == 400
    assert "选择题至少需要两个选项。" in response.content.decode()
    # The jump: 否 skips to the text question.
    edit = f"/console/activities/{survey.pk}/survey/questions/{first.pk}/edit/"
    page = client.get(edit).content.decode()
    assert "跳题设置" in page and "跳到第 3 题：其他建议" in page
    response = client.post(
        edit,
        {
            "kind": "single",
            "title": "您是否加班？",
            "required": "on",
            "options": "是\n否",
            "goto_0": "",
            "goto_1": str(third.pk),
        },
    )
    assert response.status_code == 302
    first.refresh_from_db()
    assert first.options == [{"label": "是", "goto": None}, {"label": "否", "goto": third.pk}]
    assert "跳到第 3 题" in client.get(url).content.decode()
    # Moving the jump's target above its source is refused with the reason.
    response = client.post(
        f"/console/activities/{survey.pk}/survey/questions/{third.pk}/move/", {"direction": "up"}, follow=True
    )
    response = client.post(
        f"/console/activities/{survey.pk}/survey/questions/{third.pk}/move/", {"direction": "up"}, follow=True
    )
    assert "只能跳转到后面的题目" in response.content.decode()
    client.post(f"/console/activities/{survey.pk}/survey/questions/{second.pk}/delete/")
    assert list(Question.objects.filter(activity=survey).order_by("order").values_list("pk", flat=True)) == [
        first.pk,
        third.pk,
    ]
    assert AuditEvent.objects.filter(action__startswith="activity_survey.question_").count() == 6
    # The activity's console page links to the questions and shows the results card.
    detail = client.get(f"/console/activities/{survey.pk}/").content.decode()
    assert "题目设置" in detail and 'id="survey-results"' in detail


def test_another_district_gets_404_on_every_survey_page(tree: Tree, charlie: User) -> None:
    survey, (q1, *_rest) = branching_survey(tree.tianhe)
    client = console_client(charlie)
    base = f"/console/activities/{survey.pk}/survey/questions/"
    assert client.get(base).status_code == 404
    assert client.post(base, {"kind": "text", "title": "x"}).status_code == 404
    assert client.get(f"{base}{q1.pk}/edit/").status_code == 404
    assert client.post(f"{base}{q1.pk}/delete/").status_code == 404
    assert Question.objects.filter(pk=q1.pk).exists()
    assert client.get(f"/api/v1/activities/{survey.pk}/survey/results").status_code == 404
    assert client.get(f"/api/v1/activities/{survey.pk}/survey/questions").status_code == 404


def test_a_member_fills_the_one_page_form_sees_errors_by_the_questions_then_submitted(
    tree: Tree, frank: Member
) -> None:
    survey, (q1, q2, q3, q4, q5, _q6) = branching_survey(tree.tianhe)
    publish(survey)
    client = member_client(frank)
    page = client.get(f"/a/{survey.pk}/").content.decode()
    assert 'id="survey-form"' in page and f'data-goto="{q3.pk}"' in page
    url = f"/a/{survey.pk}/survey/submit/"
    response = client.post(url, {f"q_{q1.pk}": "参加过", f"q_{q3.pk}": "九十"})
    assert response.status_code == 400
    body = response.content.decode()
    assert "此题为必答题。" in body and "请填写数字。" in body and f'id="sq-{q2.pk}-error"' in body
    # What the member typed is kept.
    assert 'value="九十"' in body
    response = client.post(
        url, {f"q_{q1.pk}": "没参加过", f"q_{q3.pk}": "6", f"q_{q5.pk}": ["法律援助", "技能培训"], f"q_{q4.pk}": ""}
    )
    assert response.status_code == 302
    page = client.get(f"/a/{survey.pk}/").content.decode()
    assert "已提交" in page and 'id="survey-form"' not in page
    assert Response.objects.get(activity=survey).member_id == frank.pk


def test_the_api_serves_questions_and_takes_answers(tree: Tree, frank: Member, bob: User) -> None:
    survey, (q1, q2, q3, _q4, q5, _q6) = branching_survey(tree.tianhe, anonymous=True)
    publish(survey)
    client = member_client(frank)
    got = client.get(f"/api/v1/activities/{survey.pk}/survey").json()
    assert got["anonymous"] is True and got["eligible"] is True and len(got["questions"]) == 6
    assert got["questions"][0]["options"][1] == {"label": "没参加过", "goto": q3.pk}
    bad = client.post(
        f"/api/v1/activities/{survey.pk}/survey/responses",
        json.dumps({"answers": {str(q1.pk): "没参加过", str(q2.pk): 3}}),
        content_type="application/json",
    )
    assert bad.status_code == 400 and bad.json()["code"] == "SURVEY_ANSWERS_INVALID"
    assert set(bad.json()["details"]["errors"]) == {str(q2.pk), str(q3.pk), str(q5.pk)}
    ok = client.post(
        f"/api/v1/activities/{survey.pk}/survey/responses",
        json.dumps({"answers": {str(q1.pk): "没参加过", str(q3.pk): 2, str(q5.pk): ["困难帮扶"]}}),
        content_type="application/json",
    )
    assert ok.status_code == 201, ok.content
    again = client.post(
        f"/api/v1/activities/{survey.pk}/survey/responses",
        json.dumps({"answers": {str(q1.pk): "没参加过", str(q3.pk): 2, str(q5.pk): ["困难帮扶"]}}),
        content_type="application/json",
    )
    assert again.status_code == 403 and again.json()["code"] == "SURVEY_ALREADY_SUBMITTED"
    results = console_client(bob).get(f"/api/v1/activities/{survey.pk}/survey/results").json()
    assert results["responses"] == 1 and results["questions"][0]["counts"] == [0, 1]
