"""The generic activity pages in real browsers: bob (Tianhe district admin) creates a
sign-up draft in the console, fills the kind's own settings on the generic edit form,
publishes it; frank sees it on his phone with the "am I eligible?" answer.

Sign-up (报名) is used because its publish check needs a value from its settings form
(名额), so the test proves that the kind's settings form rendered generically works."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Browser, expect

from gonghui.activities import actions
from gonghui.activities.models import Activity, ActivityStatus
from gonghui.conftest import Tree, make_member
from gonghui.core.audit import AuditEvent
from gonghui.core.models import User
from gonghui.members.models import Member
from gonghui.testing.browser import DESKTOP, PHONE, console_login, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_console_create_draft_then_publish_and_the_member_sees_it(
    live_server: Any, browser: Browser, tree: Tree, bob: User, frank: Member
) -> None:
    page = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **DESKTOP).new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    console_login(page, live_server.url, "bob", "correct-horse-battery", bob)

    page.get_by_role("link", name="活动", exact=True).click()
    expect(page.get_by_role("heading", level=1, name="活动")).to_be_visible()
    page.get_by_role("link", name="新建活动").click()
    page.locator("label.radio-card", has_text="报名").click()
    page.get_by_label("主办工会").select_option(label=tree.tianhe.name)
    page.get_by_label("标题").fill("天河区职工羽毛球赛报名")
    page.get_by_label("简介").fill("限 64 人，先到先得，满员可候补")
    start = timezone.localtime() - timedelta(minutes=5)
    page.get_by_label("开始时间").fill(start.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("结束时间").fill((start + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M"))
    shot(page, "activity-console-new")
    page.get_by_role("button", name="保存草稿").click()

    expect(page.get_by_role("heading", level=1, name="编辑活动")).to_be_visible()
    activity = Activity.objects.get()
    assert activity.status == ActivityStatus.DRAFT and activity.kind == "signup"
    page.get_by_label("活动详情").fill("<p>地点：<strong>天河体育中心</strong></p><script>alert(1)</script>")
    page.get_by_label("活动规则").fill("每人限报一次。")
    settings = page.locator("#kind-settings")
    expect(settings).to_be_visible()
    settings.get_by_label(re.compile(r"^名额\*?$")).fill("64")
    shot(page, "activity-console-edit")
    page.get_by_role("button", name="保存", exact=True).click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("天河区职工羽毛球赛报名")
    expect(page.locator("#activity-state")).to_have_text("草稿")
    page.get_by_role("button", name="发布", exact=True).click()  # the confirm dialog is accepted
    expect(page.locator("#activity-state")).to_have_text("进行中")
    expect(page.locator(".flashes")).to_contain_text("活动已发布")

    # Participation (written by the kind's own actions in real life) shows in the charts.
    for org, names in ((tree.tianhe_union, ("甲", "乙", "丙")), (tree.tianhe_street, ("丁",))):
        for name in names:
            actions.record_participation(activity, make_member(org, name))
    page.reload()
    expect(page.locator("#participation-count")).to_contain_text("4")
    expect(page.locator("#chart-suborg canvas")).to_be_visible()
    expect(page.locator("#chart-day canvas")).to_be_visible()
    shot(page, "activity-console-detail")

    activity.refresh_from_db()
    assert activity.status == ActivityStatus.PUBLISHED
    assert activity.settings["capacity"] == 64
    assert "<script>" not in activity.description and "<strong>天河体育中心</strong>" in activity.description
    assert AuditEvent.objects.filter(action="activity.publish", object_id=str(activity.pk), actor=bob).exists()

    # --- frank, on his phone -----------------------------------------------------------
    client = Client()
    assert frank.user is not None
    client.force_login(frank.user)
    phone_context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **PHONE)
    cookie = client.cookies["sessionid"]
    phone_context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])
    phone = phone_context.new_page()
    phone.goto(f"{live_server.url}/activities/")
    phone.get_by_role("link", name=re.compile("天河区职工羽毛球赛报名")).click()
    expect(phone.locator("#eligibility")).to_have_text(re.compile("你可以参加"))
    expect(phone.locator(".prose strong")).to_have_text("天河体育中心")
    shot(phone, "activity-portal-detail")
