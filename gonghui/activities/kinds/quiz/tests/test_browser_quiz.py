"""A quiz in real browsers: the union's bank in the console, a member answering on a phone
against the clock, the score with answers and explanations, the leaderboard, and the
organiser's results card."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from gonghui.activities.kinds.quiz import actions
from gonghui.activities.kinds.quiz.models import Attempt, QuizQuestion
from gonghui.activities.kinds.quiz.tests.helpers import SECRET, fill_bank, make_quiz, right_answers
from gonghui.conftest import Tree, make_member
from gonghui.core.models import User
from gonghui.members.models import Member
from gonghui.testing.browser import DESKTOP, PHONE, console_login, session_context, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_member_takes_a_quiz_sees_score_explanations_and_the_leaderboard(
    live_server: Any, browser: Browser, tree: Tree, bob: User, frank: Member
) -> None:
    fill_bank(tree.tianhe, 6)
    # --- the organiser adds one more question to the bank in the console --------------
    console = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **DESKTOP).new_page()
    console_login(console, live_server.url, "bob", "correct-horse-battery", bob)
    console.goto(f"{live_server.url}/console/activities/quiz/bank/{tree.tianhe.pk}/")
    add = console.locator("form", has=console.get_by_role("heading", name="添加题目"))
    add.locator("#id_kind").select_option(label="单选")
    add.locator("#id_text").fill("工会会员的会费一般按本人工资收入的多少缴纳？")
    add.locator("#id_options").fill("0.5%\n1%\n2%")
    add.locator("#id_correct").fill("A")
    add.locator("#id_explanation").fill(f"{SECRET}：按《工会会员会费管理办法》，按本人工资收入的 0.5% 缴纳。")
    add.locator("#id_tags").fill("劳动法")
    add.get_by_role("button", name="添加题目").click()
    expect(console.locator("#quiz-bank")).to_contain_text("工会会员的会费")
    shot(console, "activity-quiz-bank")
    assert QuizQuestion.objects.count() == 7

    quiz = make_quiz(tree.tianhe, question_count=4, time_limit_seconds=300, max_attempts=2)
    # Another member has already taken it (one right answer out of four).
    rival = make_member(tree.tianhe_union, "李先行")
    attempt = actions.start_attempt(activity=quiz, member=rival)
    key = right_answers(attempt.question_ids)
    first = str(attempt.question_ids[0])
    actions.submit_attempt(attempt=attempt, member=rival, answers={first: key[first]})

    # --- frank on his phone ------------------------------------------------------------
    phone = session_context(browser, frank.user, live_server.url, **PHONE).new_page()  # type: ignore[arg-type]
    phone.goto(f"{live_server.url}/a/{quiz.pk}/")
    expect(phone.locator("#quiz-leaderboard")).to_contain_text("李**")
    phone.get_by_role("button", name="开始答题").click()
    expect(phone.locator("#quiz-form")).to_be_visible()
    expect(phone.locator("#quiz-clock")).to_have_text(re.compile(r"0[45]:\d\d"))
    assert SECRET not in phone.content()
    mine = Attempt.objects.get(member=frank)
    key = right_answers(mine.question_ids)
    # Three right, the last one left unanswered.
    for qid in mine.question_ids[:3]:
        block = phone.locator(f"#qq-{qid}")
        for index in key[str(qid)]:
            block.locator(f"input[value='{index}']").check()
    shot(phone, "activity-quiz-phone-sheet")
    phone.get_by_role("button", name="交卷").click()

    expect(phone.locator("#quiz-score")).to_contain_text("75")
    expect(phone.locator("#quiz-score")).to_contain_text("答对 3/4 题")
    expect(phone.locator("#quiz-review .rv-expl").first).to_contain_text(SECRET)
    expect(phone.locator("#quiz-review .rv")).to_have_count(4)
    shot(phone, "activity-quiz-phone-review")

    phone.get_by_role("link", name="查看排行榜").click()
    board = phone.locator("#quiz-leaderboard tbody tr")
    expect(board).to_have_count(2)
    expect(board.nth(0)).to_contain_text("范*")
    expect(board.nth(0)).to_contain_text("75")
    expect(board.nth(1)).to_contain_text("李**")
    expect(phone.get_by_text("我的排名：第 1 名")).to_be_visible()
    shot(phone, "activity-quiz-phone-leaderboard")

    # --- the organiser's results card --------------------------------------------------
    console.goto(f"{live_server.url}/console/activities/{quiz.pk}/")
    expect(console.locator("#quiz-members")).to_have_text("2")
    expect(console.locator("#quiz-score-chart canvas")).to_have_count(1)
    expect(console.locator("#quiz-console-leaderboard")).to_contain_text("范*")
    shot(console, "activity-quiz-results")
