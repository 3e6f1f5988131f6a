"""A notice from the console composer to a member's phone, in real browsers.

Bob (天河区总工会 admin) composes a notice on a desktop, sees the recipient count, sends
it and watches the progress bar fill while the delivery runs batch by batch (the test
plays the worker, so each step is visible); then Frank, on a phone, finds the unread
badge on the 消息 tab, reads the notice, and the badge goes away.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from gonghui.conftest import Tree, make_member
from gonghui.core.models import User
from gonghui.inbox import actions, delivery
from gonghui.inbox.models import Broadcast, Message
from gonghui.members.models import Member
from gonghui.orgs import actions as org_actions
from gonghui.testing.browser import DESKTOP, PHONE, console_login, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def furnish(tree: Tree, frank: Member) -> None:
    org_actions.update_org(actor=None, org=tree.tianhe, values={"short_name": "天河区总工会"})
    for name, mobile in (("周晓梅", "13712340001"), ("陈志强", "13712340002"), ("林嘉欣", "")):
        make_member(tree.tianhe_union, name, mobile=mobile)
    make_member(tree.tianhe_street, "黄伟", mobile="13712340004")
    make_member(tree.nanshan_union, "李南山", mobile="13712340005")  # another district: never reached


def test_notice_from_composer_to_a_phone(
    live_server: Any, browser: Browser, tree: Tree, bob: User, frank: Member, monkeypatch: pytest.MonkeyPatch
) -> None:
    furnish(tree, frank)
    # The test is the worker: it runs the batches itself so each step can be watched.
    queued: list[int] = []
    monkeypatch.setattr(actions, "enqueue_delivery", queued.append)

    desk = browser.new_context(locale="zh-CN", **DESKTOP).new_page()
    console_login(desk, live_server.url, "bob", "correct-horse-battery", bob)

    desk.get_by_role("navigation", name="管理导航").get_by_role("link", name="通知群发").click()
    expect(desk.get_by_role("heading", name="通知群发")).to_be_visible()
    desk.get_by_role("link", name="发布通知").click()
    expect(desk.locator("#recipient-preview")).to_contain_text("预计 5 名会员收到")
    desk.get_by_label("只发给下级工会").select_option(str(tree.tianhe_union.pk))
    expect(desk.locator("#recipient-preview")).to_contain_text("预计 4 名会员收到")
    desk.get_by_label("只发给下级工会").select_option("")
    expect(desk.locator("#recipient-preview")).to_contain_text("预计 5 名会员收到")
    desk.get_by_label("标题").fill("关于开展2026年夏季“送清凉”活动的通知")
    desk.get_by_label("正文").fill(
        "各基层工会、全体会员：\n\n为做好高温期间一线职工防暑降温工作，区总工会定于7月开展“送清凉”慰问活动，"
        "请各基层工会于6月30日前上报慰问名单。\n\n天河区总工会"
    )
    shot(desk, "console-broadcast-new")
    desk.get_by_role("button", name="发布", exact=True).click()

    expect(desk.get_by_role("heading", level=1)).to_contain_text("送清凉")
    progress = desk.locator("#broadcast-progress")
    expect(progress).to_contain_text("排队中")
    expect(progress).to_contain_text("0 / 5")
    [broadcast_id] = queued

    assert delivery.start(broadcast_id)
    assert delivery.deliver_batch(broadcast_id, 2)
    assert delivery.deliver_batch(broadcast_id, 2)
    expect(progress).to_contain_text("发送中")  # the page polls; nobody reloads it
    expect(progress).to_contain_text("4 / 5")
    expect(desk.locator("#broadcast-percent")).to_have_text("80%")
    delivery.deliver(broadcast_id, size=2)
    expect(progress).to_contain_text("已完成")
    expect(desk.locator("#broadcast-percent")).to_have_text("100%")
    expect(progress).to_contain_text("5 / 5")
    shot(desk, "console-broadcast")
    assert Message.objects.filter(broadcast_id=broadcast_id).count() == 5
    assert Broadcast.objects.get(pk=broadcast_id).notice is not None

    phone = browser.new_context(locale="zh-CN", **PHONE).new_page()
    phone.goto(f"{live_server.url}/login/?tab=password")
    phone.get_by_label("登录名或手机号").fill("13900000006")
    phone.get_by_label("密码").fill("correct-horse-battery")
    phone.get_by_role("button", name="登录", exact=True).click()
    tabs = phone.get_by_role("navigation", name="主导航")
    messages_tab = tabs.get_by_role("link", name=re.compile("消息"))
    expect(messages_tab).to_contain_text("1")  # the unread badge
    messages_tab.click()
    expect(phone.get_by_role("heading", name="消息中心")).to_be_visible()
    row = phone.locator(".msg-row.is-unread")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("送清凉")
    expect(row).to_contain_text("通知公告")
    shot(phone, "portal-messages")
    row.click()
    expect(phone.get_by_role("heading", level=1)).to_contain_text("送清凉")
    expect(phone.locator(".prose")).to_contain_text("请各基层工会于6月30日前上报慰问名单")
    shot(phone, "portal-message-detail")
    phone.get_by_role("link", name="查看通知公告原文").click()
    expect(phone.get_by_role("heading", level=1)).to_contain_text("送清凉")
    phone.go_back()
    phone.get_by_role("link", name=re.compile("返回消息中心")).click()
    expect(phone.locator(".msg-row.is-unread")).to_have_count(0)
    expect(phone.locator(".tab-badge")).to_have_count(0)
    phone.context.close()
    desk.context.close()
