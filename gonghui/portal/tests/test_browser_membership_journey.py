"""Issue 3's whole journey in one real browser session, as a worker and a chair live it:
find the union by pinyin initials on a phone, register and apply, the grassroots chair
approves in the desktop console, the member opens the e-member card, and /card/verify
accepts its token — then refuses it after expiry and after the member has left.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from gonghui.conftest import Tree, new_id_number
from gonghui.core.models import User
from gonghui.members.models import Member, MemberStatus
from gonghui.portal.tests.helpers import latest_code
from gonghui.testing.browser import DESKTOP, PHONE, console_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def verify(page: Page, url: str, token: str) -> str:
    page.goto(f"{url}/card/verify/")
    page.get_by_label("二维码内容").fill(token)
    page.get_by_role("button", name="核验", exact=True).click()
    result = page.locator(".verify-result")
    expect(result).to_be_visible()
    return str(result.get_attribute("data-result"))


def test_find_apply_approve_card_verify_expire_leave(
    live_server: Any, browser: Browser, tree: Tree, dave: User, settings: Any
) -> None:
    url = live_server.url
    errors: list[str] = []

    # --- phone: 一键找到工会 by pinyin initials, then register and apply -------------------
    phone = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **PHONE)
    page = phone.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{url}/find/")
    page.get_by_label("搜索工会").press_sequentially("gzthrjy", delay=30)
    found = page.locator(".find-card", has_text="广州天河软件园有限公司工会")
    expect(found).to_be_visible()
    found.click()
    page.get_by_role("link", name="申请加入").click()
    page.get_by_role("link", name="手机号注册").click()
    page.get_by_label("手机号").fill("13755550101")
    page.get_by_role("button", name="获取验证码").click()
    expect(page.locator("#code-feedback")).to_contain_text("验证码已发送")
    page.get_by_label("验证码").fill(latest_code("13755550101"))
    page.get_by_role("button", name="注册并登录").click()
    page.get_by_label("姓名").fill("周小满")
    page.get_by_label("身份证号").fill(new_id_number("440106"))
    page.get_by_label("就业状态").select_option("employed")
    page.get_by_label("我已阅读并同意《敏感个人信息处理授权书》").check()
    page.get_by_role("button", name="提交申请").click()
    expect(page.locator(".app-item").first).to_contain_text("待审批")

    # --- desktop console: the grassroots chair approves -----------------------------------
    desk = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **DESKTOP)
    console = desk.new_page()
    console.on("pageerror", lambda exc: errors.append(str(exc)))
    console_login(console, url, "dave", "correct-horse-battery", dave)
    console.get_by_role("navigation", name="管理导航").get_by_role("link", name="入会审批").click()
    console.get_by_role("checkbox", name="选择 周小满").check()
    console.get_by_role("button", name="批量通过所选申请").click()
    expect(console.locator(".flash, .flashes").first).to_contain_text("已通过 1 份入会申请")

    # --- phone: the card with its live QR --------------------------------------------------
    member = Member.objects.get(user__mobile="13755550101")
    page.goto(f"{url}/me/")
    page.get_by_role("link", name=re.compile("电子会员卡")).click()
    expect(page.get_by_role("heading", name="周小满")).to_be_visible()
    expect(page.locator(".member-card-number")).to_have_text(str(member.card_number))
    qr = page.locator("#card-qr")
    expect(qr).to_be_visible()
    token = str(qr.get_attribute("data-token"))

    # --- /card/verify by the chair: valid, then expired, then (fresh token) left -------------
    checker = desk.new_page()
    assert verify(checker, url, token) == "valid"
    expect(checker.locator(".verify-state")).to_contain_text("有效")
    settings.MEMBER_CARD_TOKEN_TTL_SECONDS = 1
    time.sleep(2.1)
    assert verify(checker, url, token) == "expired"
    settings.MEMBER_CARD_TOKEN_TTL_SECONDS = 60

    page.goto(f"{url}/me/card/")
    fresh = str(page.locator("#card-qr").get_attribute("data-token"))
    assert verify(checker, url, fresh) == "valid"
    page.goto(f"{url}/me/leave/")
    page.get_by_label("我已了解以上内容，自愿退出工会。").check()
    page.get_by_role("button", name="确认退会").click()
    member.refresh_from_db()
    assert member.status == MemberStatus.LEFT
    assert verify(checker, url, fresh) == "left"
    expect(checker.locator(".verify-state")).to_contain_text("已退会")

    assert errors == []
    phone.close()
    desk.close()
