"""Joining online in a real browser: a worker registers and applies on a phone, the
grassroots chair approves in the desktop console, and the phone shows the card number;
a second applicant is rejected and sees the reason.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from gonghui.conftest import Tree, new_id_number
from gonghui.core.models import User
from gonghui.members import joining
from gonghui.members.models import Application, ApplicationStatus, Member
from gonghui.portal.tests.helpers import latest_code
from gonghui.testing.browser import DESKTOP, PHONE, console_login, session_context, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_apply_on_a_phone_approve_in_the_console_and_see_the_card_number(
    live_server: Any, browser: Browser, tree: Tree, dave: User
) -> None:
    url = live_server.url
    # A second applicant, already waiting, whom the chair will reject.
    other = User.objects.create_user("13755550002", mobile="13755550002")
    rejected = joining.apply_for_membership(
        other,
        tree.tianhe_union,
        joining.ApplicationInput(name="钱不符", id_number=new_id_number(), mobile="13755550002", workplace="外单位"),
        consent=True,
    )

    # --- phone: find the union's page, register, apply -----------------------------------
    phone = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **PHONE)
    page = phone.new_page()
    page.goto(f"{url}/u/{tree.tianhe_union.pk}/")
    page.get_by_role("link", name="申请加入").click()
    expect(page).to_have_url(re.compile(rf"/join/{tree.tianhe_union.pk}/$"))
    page.get_by_role("link", name="手机号注册").click()
    page.get_by_label("手机号").fill("137 5555 0001")
    page.get_by_role("button", name="获取验证码").click()
    expect(page.locator("#code-feedback")).to_contain_text("验证码已发送")
    page.get_by_label("验证码").fill(latest_code("13755550001"))
    page.get_by_role("button", name="注册并登录").click()

    expect(page).to_have_url(re.compile(rf"/join/{tree.tianhe_union.pk}/$"))
    expect(page.get_by_role("heading", name="填写入会信息")).to_be_visible()
    expect(page.get_by_label("手机号")).to_have_value("13755550001")
    page.get_by_label("姓名").fill("孙小兵")
    page.get_by_label("身份证号").fill(new_id_number("440106"))
    page.get_by_label("就业状态").select_option("employed")
    page.get_by_label("新就业形态群体").select_option("food_delivery")
    page.get_by_label("我已阅读并同意《敏感个人信息处理授权书》").check()
    shot(page, "portal-apply")
    page.get_by_role("button", name="提交申请").click()

    expect(page).to_have_url(re.compile(r"/me/applications/$"))
    expect(page.get_by_role("heading", name="我的入会申请")).to_be_visible()
    expect(page.locator(".app-item").first).to_contain_text("待审批")
    applicant = User.objects.get(mobile="13755550001")
    application = Application.objects.get(user=applicant)

    # --- desktop console: the chair approves one and rejects the other --------------------
    desk = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **DESKTOP)
    console = desk.new_page()
    console_login(console, url, "dave", "correct-horse-battery", dave)
    expect(console.locator("#pending-applications")).to_contain_text("2")
    console.get_by_role("navigation", name="管理导航").get_by_role("link", name="入会审批").click()
    expect(console.get_by_role("heading", name="入会审批")).to_be_visible()
    expect(console.get_by_role("row", name=re.compile("孙小兵"))).to_contain_text("网约送餐员")
    shot(console, "console-applications")

    console.get_by_role("checkbox", name="选择 孙小兵").check()
    console.get_by_role("button", name="批量通过所选申请").click()
    expect(console.locator(".flash, .flashes").first).to_contain_text("已通过 1 份入会申请")

    console.get_by_role("link", name="钱不符").click()
    console.get_by_role("button", name="驳回申请").click()
    expect(console.get_by_text("请填写不予通过的原因").first).to_be_visible()
    console.get_by_label("不予通过的原因").fill("经核实您不是本单位职工，请向所在单位工会申请。")
    console.get_by_role("button", name="驳回申请").click()
    expect(console.get_by_role("heading", name="入会审批")).to_be_visible()

    # --- phone: the approved application shows the card number ----------------------------
    member = Member.objects.get(user=applicant)
    application.refresh_from_db()
    assert application.status == ApplicationStatus.APPROVED and application.member == member
    page.reload()
    card = page.locator(f"#application-{application.pk}")
    expect(card).to_contain_text("已通过")
    expect(card).to_contain_text(str(member.card_number))
    shot(page, "portal-application-status")

    # --- the rejected applicant sees the reason ------------------------------------------
    other_phone = session_context(browser, other, url, **PHONE)
    other_page = other_phone.new_page()
    other_page.goto(f"{url}/me/applications/")
    item = other_page.locator(f"#application-{rejected.pk}")
    expect(item).to_contain_text("未通过")
    expect(item).to_contain_text("经核实您不是本单位职工，请向所在单位工会申请。")
    shot(other_page, "portal-application-rejected")

    for ctx in (phone, desk, other_phone):
        ctx.close()
