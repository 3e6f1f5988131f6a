"""The quiz's pages and API: nothing of the answers before handing in, scoping, the bank."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from openpyxl import Workbook

from gonghui.activities.kinds.quiz import actions
from gonghui.activities.kinds.quiz.models import Attempt, QuizQuestion
from gonghui.activities.kinds.quiz.tests.helpers import SECRET, fill_bank, make_quiz, right_answers
from gonghui.conftest import Tree, console_client
from gonghui.core.models import AuditEvent, User
from gonghui.members.models import Member

pytestmark = pytest.mark.django_db


def member_client(member: Member) -> Client:
    client = Client()
    assert member.user is not None
    client.force_login(member.user)
    return client


def test_the_answer_sheet_and_the_api_hold_no_answers_until_handed_in(tree: Tree, frank: Member) -> None:
    fill_bank(tree.tianhe, 6)
    quiz = make_quiz(tree.tianhe)
    client = member_client(frank)
    panel = client.get(f"/a/{quiz.pk}/").content.decode()
    assert "开始答题" in panel and SECRET not in panel
    response = client.post(f"/a/{quiz.pk}/quiz/start/")
    assert response.status_code == 302 and response["Location"] == f"/a/{quiz.pk}/quiz/attempts/1/"
    sheet = client.get(response["Location"]).content.decode()
    attempt = Attempt.objects.get(member=frank)
    assert 'id="quiz-form"' in sheet and SECRET not in sheet and 'class="is-correct"' not in sheet
    api = client.get(f"/api/v1/activities/{quiz.pk}/quiz/attempts/1")
    body = api.content.decode()
    assert api.status_code == 200 and SECRET not in body and '"correct"' not in body and api.json()["review"] == []
    assert [q["id"] for q in api.json()["questions"]] == attempt.question_ids
    # Hand in through the page: the review now shows the answers and explanations.
    key = right_answers(attempt.question_ids)
    form = {f"q_{qid}": [str(i) for i in key[str(qid)]] for qid in attempt.question_ids}
    client.post(f"/a/{quiz.pk}/quiz/attempts/1/submit/", form)
    review = client.get(f"/a/{quiz.pk}/quiz/attempts/1/").content.decode()
    assert SECRET in review and re.search(r"big pass\">100", review)
    done = client.get(f"/api/v1/activities/{quiz.pk}/quiz/attempts/1").json()
    assert done["score"] == 100 and all(item["right"] and SECRET in item["explanation"] for item in done["review"])


def test_the_api_starts_and_scores_an_attempt(tree: Tree, frank: Member) -> None:
    fill_bank(tree.tianhe, 6)
    quiz = make_quiz(tree.tianhe, max_attempts=1)
    client = member_client(frank)
    started = client.post(f"/api/v1/activities/{quiz.pk}/quiz/attempts")
    assert started.status_code == 201 and SECRET not in started.content.decode()
    ids = [q["id"] for q in started.json()["questions"]]
    key = right_answers(ids)
    answers = {str(ids[0]): key[str(ids[0])]}
    done = client.post(
        f"/api/v1/activities/{quiz.pk}/quiz/attempts/1/submit",
        json.dumps({"answers": answers}),
        content_type="application/json",
    )
    assert done.status_code == 200 and done.json()["score"] == 33 and done.json()["passed"] is False
    again = client.post(f"/api/v1/activities/{quiz.pk}/quiz/attempts")
    assert again.status_code == 403 and again.json()["code"] == "QUIZ_NO_ATTEMPTS_LEFT"
    board = client.get(f"/api/v1/activities/{quiz.pk}/quiz/leaderboard").json()
    assert board == [
        {"rank": 1, "name": "范*", "org": tree.tianhe_union.name, "score": 33, "seconds": board[0]["seconds"]}
    ]


def test_another_member_cannot_open_or_hand_in_my_attempt(tree: Tree, frank: Member) -> None:
    from gonghui.conftest import make_member

    fill_bank(tree.tianhe, 6)
    quiz = make_quiz(tree.tianhe)
    other = make_member(tree.tianhe_union, "旁人")
    actions.start_attempt(activity=quiz, member=other)
    client = member_client(frank)
    assert client.get(f"/a/{quiz.pk}/quiz/attempts/1/").status_code == 404
    assert client.post(f"/a/{quiz.pk}/quiz/attempts/1/submit/", {}).status_code == 404
    assert client.get(f"/api/v1/activities/{quiz.pk}/quiz/attempts/1").status_code == 404


def test_the_bank_in_the_console_is_scoped_and_audited(tree: Tree, bob: User, charlie: User) -> None:
    client = console_client(bob)
    url = f"/console/activities/quiz/bank/{tree.tianhe.pk}/"
    response = client.post(
        url,
        {
            "kind": "multiple",
            "text": "工会的基本职责有哪些？",
            "options": "维权\n服务\n炒股",
            "correct": "AB",
            "tags": "工会法、基础",
        },
    )
    assert response.status_code == 302
    question = QuizQuestion.objects.get()
    assert question.correct == [0, 1] and question.tags == ["基础", "工会法"] and question.org_path == tree.tianhe.path
    bad = client.post(url, {"kind": "single", "text": "题", "options": "甲\n乙", "correct": "E"})
    assert bad.status_code == 400 and "超出了选项范围" in bad.content.decode()
    page = client.get(url).content.decode()
    assert "工会的基本职责有哪些？" in page and "A. 维权" in page
    other = console_client(charlie)
    assert other.get(url).status_code == 404
    assert other.get(f"{url}{question.pk}/edit/").status_code == 404
    assert other.post(f"{url}{question.pk}/toggle/", {"active": "0"}).status_code == 404
    assert other.get(f"/api/v1/activities/quiz/bank/{tree.tianhe.pk}").status_code == 404
    client.post(f"{url}{question.pk}/toggle/", {"active": "0"})
    question.refresh_from_db()
    assert not question.is_active
    assert AuditEvent.objects.filter(action__startswith="activity_quiz.").count() == 2


def test_bank_import_from_xlsx_is_all_or_nothing(tree: Tree, bob: User) -> None:
    client = console_client(bob)

    def sheet(rows: list[list[str]]) -> SimpleUploadedFile:
        book = Workbook()
        ws = book.active
        ws.append(actions.IMPORT_HEADERS)
        for row in rows:
            ws.append(row)
        data = io.BytesIO()
        book.save(data)
        return SimpleUploadedFile("题库.xlsx", data.getvalue())

    url = f"/console/activities/quiz/bank/{tree.tianhe.pk}/import/"
    good = ["单选", "试用期最长几个月？", "1", "3", "6", "", "", "", "C", "劳动合同法第十九条", "劳动法"]
    bad = ["填空", "不支持的题型", "", "", "", "", "", "", "", "", ""]
    response = client.post(url, {"file": sheet([good, bad])}, follow=True)
    assert "第 3 行：题型应为 单选、多选 或 判断。" in response.content.decode()
    assert not QuizQuestion.objects.exists()
    judge = ["判断", "工会会员享有选举权", "", "", "", "", "", "", "对", "", ""]
    response = client.post(url, {"file": sheet([good, judge])}, follow=True)
    assert "已导入 2 道题目。" in response.content.decode()
    assert sorted(QuizQuestion.objects.values_list("kind", "correct")) == [("single", [2]), ("truefalse", [0])]
