"""A survey end to end in real browsers.

bob (Tianhe district admin) creates a survey in the console, adds questions (one of them
a single choice whose answer "没参加过" jumps past the rating), sets the jump, publishes;
frank answers on a phone-sized page, where the branch hides the rating question and a
missing answer is explained next to its question; the console's results card then
draws the charts.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from gonghui.activities.kinds.survey.models import Answer, Question, Response
from gonghui.activities.models import Activity, ActivityStatus
from gonghui.conftest import Tree
from gonghui.core.models import User
from gonghui.members.models import Member
from gonghui.testing.browser import DESKTOP, PHONE, console_login, session_context, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def add_question(page: Page, kind: str, title: str, *, options: str = "", required: bool = True, **limits: int) -> None:
    form = page.locator("form", has=page.get_by_role("heading", name="添加题目"))
    form.locator("#id_kind").select_option(label=kind)
    form.locator("#id_title").fill(title)
    form.get_by_label("必答").set_checked(required)
    if options:
        form.locator("#id_options").fill(options)
    for name, value in limits.items():
        form.locator(f"#id_{name}").fill(str(value))
    form.get_by_role("button", name="添加题目").click()
    expect(page.locator(".flashes")).to_contain_text("已添加第")


def test_organiser_builds_a_branching_survey_member_answers_on_a_phone_results_chart(
    live_server: Any, browser: Browser, tree: Tree, bob: User, frank: Member
) -> None:
    console = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **DESKTOP).new_page()
    console.on("dialog", lambda dialog: dialog.accept())
    console_login(console, live_server.url, "bob", "correct-horse-battery", bob)

    # --- the organiser creates the survey and its questions ---------------------------
    console.goto(f"{live_server.url}/console/activities/new/")
    console.locator("label.radio-card", has_text="问卷").click()
    console.get_by_label("主办工会").select_option(label=tree.tianhe.name)
    console.get_by_label("标题").fill("2026 年职工需求调查")
    start = timezone.localtime() - timedelta(minutes=5)
    console.get_by_label("开始时间").fill(start.strftime("%Y-%m-%dT%H:%M"))
    console.get_by_label("结束时间").fill((start + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M"))
    console.get_by_role("button", name="保存草稿").click()
    expect(console.get_by_role("heading", level=1, name="编辑活动")).to_be_visible()
    console.locator("#kind-settings").get_by_label("结束后向会员公布统计结果").check()
    console.get_by_role("button", name="保存", exact=True).click()
    survey = Activity.objects.get()
    assert survey.kind == "survey" and survey.settings["results_public"] is True

    console.get_by_role("link", name="题目设置").click()
    expect(console.get_by_role("heading", level=1, name="题目设置")).to_be_visible()
    add_question(console, "单选", "今年您参加过工会组织的活动吗？", options="参加过\n没参加过")
    add_question(console, "评分", "请给工会活动打分", min_value=1, max_value=5)
    add_question(
        console, "多选", "您希望工会提供哪些服务？", options="法律援助\n技能培训\n文体活动\n困难帮扶", max_value=2
    )
    add_question(console, "数字", "您每周大约加班多少小时？", min_value=0, max_value=80)
    add_question(console, "填空", "对工会还有什么建议？", required=False)
    first, _rating, services, *_ = Question.objects.filter(activity=survey).order_by("order")

    # 没参加过 → skip the rating, straight to question 3.
    console.get_by_role("link", name="修改第 1 题").click()
    console.get_by_label("没参加过").select_option(label="跳到第 3 题：您希望工会提供哪些服务？")
    shot(console, "activity-survey-question-jump")
    console.get_by_role("button", name="保存", exact=True).click()
    expect(console.locator(f"#q-{first.pk}")).to_contain_text("→ 跳到第 3 题")
    shot(console, "activity-survey-questions")

    console.get_by_role("link", name="2026 年职工需求调查").first.click()
    console.get_by_role("button", name="发布", exact=True).click()
    expect(console.locator("#activity-state")).to_have_text("进行中")
    survey.refresh_from_db()
    assert survey.status == ActivityStatus.PUBLISHED

    # --- frank answers on his phone ---------------------------------------------------
    phone = session_context(browser, frank.user, live_server.url, **PHONE).new_page()  # type: ignore[arg-type]
    phone.goto(f"{live_server.url}/activities/")
    phone.get_by_role("link", name=re.compile("2026 年职工需求调查")).click()
    form = phone.locator("#survey-form")
    expect(form).to_be_visible()
    rating = phone.locator(".sq", has_text="请给工会活动打分")
    expect(rating).to_be_visible()
    form.get_by_text("没参加过").click()
    expect(rating).to_be_hidden()  # the branch skips it
    form.get_by_text("参加过", exact=True).click()
    expect(rating).to_be_visible()
    form.get_by_text("没参加过").click()
    form.get_by_text("技能培训").click()
    form.get_by_text("法律援助").click()
    form.get_by_label(re.compile("您每周大约加班多少小时")).fill("100")
    form.get_by_role("button", name="提交问卷").click()
    # Over the range: the reason is next to the question, the answers are kept.
    expect(phone.locator(".sq.has-error .field-error")).to_have_text("不能大于 80。")
    expect(phone.locator(".sq", has_text="请给工会活动打分")).to_be_hidden()
    shot(phone, "activity-survey-phone-error")
    phone.locator("#survey-form").get_by_label(re.compile("您每周大约加班多少小时")).fill("6")
    phone.locator("#survey-form").get_by_label(re.compile("对工会还有什么建议")).fill("希望多组织周末亲子活动")
    phone.locator("#survey-form").get_by_role("button", name="提交问卷").click()
    expect(phone.locator("#survey-done")).to_contain_text("已提交")
    shot(phone, "activity-survey-phone-done")

    response = Response.objects.get(activity=survey)
    stored = dict(Answer.objects.filter(response=response).values_list("question__order", "value"))
    assert stored == {1: "没参加过", 3: ["法律援助", "技能培训"], 4: 6, 5: "希望多组织周末亲子活动"}

    # --- the results chart in the console ---------------------------------------------
    console.goto(f"{live_server.url}/console/activities/{survey.pk}/")
    expect(console.locator("#survey-response-count")).to_have_text("1")
    chart = console.locator(f"#survey-chart-{services.pk}")
    expect(chart.locator("canvas")).to_have_count(1)  # ECharts drew it
    expect(console.locator("#survey-results .survey-texts")).to_contain_text("希望多组织周末亲子活动")
    shot(console, "activity-survey-results")
