"""The member portal in a real browser: a phone-sized SMS login, home page and 我的."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from playwright.sync_api import Browser, Page, expect

from gonghui.conftest import Tree
from gonghui.members.models import Member
from gonghui.orgs import actions as org_actions
from gonghui.portal.tests.helpers import latest_code
from gonghui.testing.browser import PHONE
from gonghui.testing.browser import shot as browser_shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}


def shot(page: Page, name: str) -> None:
    """Save var/screenshots/portal-``name``.png."""
    browser_shot(page, f"portal-{name}", folder=SHOTS)


def furnish(tree: Tree) -> None:
    org_actions.update_org(
        actor=None,
        org=tree.tianhe_union,
        values={
            "short_name": "软件园工会",
            "intro": "广州天河软件园有限公司工会成立于 2012 年，现有会员 300 余人，"
            "坚持服务职工，开展技能培训、文体活动和困难帮扶。",
        },
    )
    org_actions.publish_notice(
        actor=None,
        org=tree.province,
        title="关于举办全省职工职业技能大赛的通知",
        body="各市总工会：\n\n现将有关事项通知如下。",
    )
    org_actions.publish_notice(
        actor=None, org=tree.tianhe, title="天河区总工会 2026 年“送清凉”活动安排", body="高温期间慰问一线职工。"
    )
    org_actions.publish_notice(
        actor=None, org=tree.tianhe_union, title="软件园工会第三届会员代表大会召开通知", body="请各分会做好准备。"
    )
    org_actions.publish_notice(actor=None, org=tree.nanshan_union, title="南山科技工会团建通知", body="周六。")


def test_member_logs_in_by_sms_on_a_phone_and_sees_union_and_profile(
    live_server: Any, browser: Browser, tree: Tree, frank: Member
) -> None:
    furnish(tree)
    context = browser.new_context(locale="zh-CN", **PHONE)
    page = context.new_page()

    page.goto(f"{live_server.url}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("智慧工会")
    shot(page, "landing-phone")

    page.get_by_role("link", name="会员登录").click()
    expect(page).to_have_url(re.compile(r"/login/$"))
    page.get_by_label("手机号").fill("139 0000 0006")
    assert page.evaluate("typeof window.htmx") == "object"  # the vendored htmx loaded
    page.get_by_role("button", name="获取验证码").click()
    expect(page.locator("#code-feedback")).to_contain_text("验证码已发送至 139****0006")
    expect(page.locator("#send-code")).to_be_disabled()
    expect(page.locator("#send-code")).to_contain_text("秒后重发")
    shot(page, "login-phone")

    page.get_by_label("验证码").fill(latest_code("13900000006"))
    page.get_by_role("button", name="登录", exact=True).last.click()

    expect(page).to_have_url(re.compile(rf"/u/{frank.org_id}/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("广州天河软件园有限公司工会")
    notices = page.locator(".notice-list")
    expect(notices).to_contain_text("软件园工会第三届会员代表大会召开通知")
    expect(notices).to_contain_text("天河区总工会 2026 年“送清凉”活动安排")
    expect(notices).to_contain_text("关于举办全省职工职业技能大赛的通知")
    expect(notices).not_to_contain_text("南山科技工会团建通知")
    expect(page.get_by_role("navigation", name="所在位置")).to_contain_text("广东省总工会")
    shot(page, "home-phone")

    page.get_by_role("link", name="关于举办全省职工职业技能大赛的通知").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("关于举办全省职工职业技能大赛的通知")
    shot(page, "notice-phone")

    page.get_by_role("navigation", name="主导航").get_by_role("link", name="我的").click()
    expect(page).to_have_url(re.compile(r"/me/$"))
    expect(page.locator(".fields")).to_contain_text(frank.id_number_masked)
    expect(page.locator(".fields")).to_contain_text("139****0006")
    assert frank.reveal_id_number() not in page.content()
    shot(page, "me-phone")

    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("button", name="English")).to_have_attribute("aria-pressed", "true")
    page.get_by_role("button", name="简体中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")

    page.get_by_role("button", name="退出登录").click()
    expect(page.locator(".toast")).to_contain_text("您已安全退出")
    context.close()


def test_portal_pages_at_desktop_width(live_server: Any, browser: Browser, tree: Tree, frank: Member) -> None:
    furnish(tree)
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = context.new_page()

    page.goto(f"{live_server.url}/login/?tab=password")
    page.get_by_label("登录名或手机号").fill("13900000006")
    page.get_by_label("密码").fill("wrong-password-here")
    page.get_by_role("button", name="登录", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("登录名或密码错误")
    shot(page, "login-error-desktop")

    page.get_by_label("密码").fill("correct-horse-battery")
    page.get_by_role("button", name="登录", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/u/{frank.org_id}/$"))
    column = page.locator(".shell").bounding_box()
    assert column is not None and column["width"] <= 640
    shot(page, "home-desktop")

    page.goto(f"{live_server.url}/u/{tree.tianhe.pk}/")
    expect(page.get_by_role("heading", name="下级工会")).to_be_visible()
    shot(page, "district-desktop")

    page.goto(f"{live_server.url}/me/")
    expect(page.locator(".fields")).to_contain_text(frank.id_number_masked)
    shot(page, "me-desktop")
    context.close()


def test_cadre_without_member_record_is_pointed_to_the_console(live_server: Any, browser: Browser, alice: Any) -> None:
    context = browser.new_context(locale="zh-CN", **{**PHONE, "has_touch": False})
    page = context.new_page()

    page.goto(f"{live_server.url}/login/?tab=password")
    page.get_by_label("登录名或手机号").fill("alice")
    page.get_by_label("密码").fill("correct-horse-battery")
    page.get_by_role("button", name="登录", exact=True).click()

    expect(page.get_by_role("heading", name="您的账号尚未关联会员档案")).to_be_visible()
    expect(page.get_by_role("link", name="进入管理后台")).to_have_attribute("href", "/console/")
    shot(page, "cadre-phone")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="我的").click()
    expect(page.get_by_text("还没有关联会员档案")).to_be_visible()
    shot(page, "me-no-member-phone")
    context.close()
