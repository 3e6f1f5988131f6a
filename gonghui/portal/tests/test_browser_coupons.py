"""Coupons in real browsers: a cadre issues a coupon in the console; the member opens the
wallet on a phone and sees the QR; a merchant cashier on a phone types the code and
redeems it; a second redemption (a stale second screen pressing 确认核销) is refused with
the clear message of when and where it was redeemed."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.conf import settings
from playwright.sync_api import Browser, expect

from gonghui.conftest import Tree, console_client
from gonghui.core.models import User
from gonghui.coupons import actions
from gonghui.coupons.models import Coupon, CouponStatus, MerchantKind, Redemption
from gonghui.coupons.tests.conftest import make_template
from gonghui.members.models import Member
from gonghui.testing.browser import DESKTOP, PHONE, session_context, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_issue_show_redeem_and_refuse_the_second_time(
    live_server: Any, browser: Browser, tree: Tree, bob: User, frank: Member
) -> None:
    spa = actions.create_merchant(
        actor=bob,
        org=tree.tianhe,
        values={"name": "从化碧泉温泉", "kind": MerchantKind.HOT_SPRING, "address": "广州市从化区温泉镇"},
    )
    cashier = actions.add_merchant_user(actor=bob, merchant=spa, mobile="13711110001", name="米娅").user
    make_template(bob, tree.tianhe, [spa], quantity=500)
    errors: list[str] = []

    # The cadre issues one coupon to frank from the template's page.
    # A console session with the second factor passed (the sign-in pages have their own tests).
    cookie = console_client(bob).cookies[settings.SESSION_COOKIE_NAME]
    desk = browser.new_context(**{"locale": "zh-CN", "timezone_id": "Asia/Shanghai", **DESKTOP})
    desk.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])
    console = desk.new_page()
    console.on("pageerror", lambda exc: errors.append(str(exc)))
    console.goto(f"{live_server.url}/console/coupons/")
    console.get_by_role("link", name="从化温泉双人票").click()
    console.get_by_label("会员手机号、身份证号或姓名").fill("13900000006")
    console.get_by_role("button", name="发券").click()
    expect(console.get_by_text(re.compile("已发给 范克"))).to_be_visible()
    coupon = Coupon.objects.get(member=frank)
    expect(console.locator("#recent-coupons")).to_contain_text(coupon.display_code)
    shot(console, "coupons-console-template")

    # The member finds it in 我的券 and opens the QR.
    assert frank.user is not None
    member = session_context(browser, frank.user, live_server.url, **PHONE).new_page()
    member.on("pageerror", lambda exc: errors.append(str(exc)))
    member.goto(f"{live_server.url}/me/")
    member.get_by_role("link", name=re.compile("我的券")).click()
    expect(member.get_by_role("link", name=re.compile("可用 1"))).to_be_visible()
    shot(member, "coupons-portal-wallet")
    member.get_by_role("link", name=re.compile("从化温泉双人票")).click()
    qr = member.get_by_role("img", name="券二维码")
    expect(qr).to_be_visible()
    box = qr.bounding_box()
    assert box is not None and box["width"] >= 200
    expect(member.locator("#coupon-code")).to_have_text(coupon.display_code)
    expect(member.get_by_text("广州市从化区温泉镇")).to_be_visible()
    shot(member, "coupons-portal-qr")
    code = member.locator("#coupon-code").inner_text()

    # The cashier types the code on a phone: a second screen looks it up too (stale later).
    context = session_context(browser, cashier, live_server.url, **PHONE)
    till = context.new_page()
    till.on("pageerror", lambda exc: errors.append(str(exc)))
    till.goto(f"{live_server.url}/merchant/")
    expect(till.locator("#today-count")).to_have_text("0")
    till.get_by_label("券码或二维码内容").fill(code.lower())
    till.get_by_role("button", name="查询").click()
    expect(till.locator(".mc-result")).to_contain_text("从化温泉双人票")
    expect(till.locator(".mc-result")).to_contain_text("范*")
    other = context.new_page()
    other.goto(f"{live_server.url}/merchant/")
    other.get_by_label("券码或二维码内容").fill(code)
    other.get_by_role("button", name="查询").click()
    expect(other.get_by_role("button", name="确认核销")).to_be_visible()

    till.get_by_role("button", name="确认核销").click()
    expect(till.locator(".mc-result")).to_contain_text("核销成功")
    expect(till.locator("#today-count")).to_have_text("1")
    shot(till, "coupons-merchant-redeemed")

    other.get_by_role("button", name="确认核销").click()
    refusal = other.locator(".mc-result")
    expect(refusal).to_contain_text("已核销过，不能重复使用")
    expect(other.locator("#mc-message")).to_have_text(
        re.compile(r"此券已于 \d{4}-\d{2}-\d{2} \d{2}:\d{2} 在从化碧泉温泉核销，不能重复使用。")
    )
    shot(other, "coupons-merchant-refused")

    coupon.refresh_from_db()
    assert coupon.status == CouponStatus.REDEEMED
    assert Redemption.objects.filter(coupon=coupon).count() == 1

    # The wallet moves it to 已使用; the console report counts it.
    member.goto(f"{live_server.url}/me/coupons/?tab=used")
    expect(member.locator("#coupon-list")).to_contain_text("于从化碧泉温泉使用")
    console.goto(f"{live_server.url}/console/coupons/reports/")
    expect(console.locator("#report-merchants")).to_contain_text("从化碧泉温泉")
    console.wait_for_function("window.echarts && echarts.getInstanceByDom(document.getElementById('chart-templates'))")
    shot(console, "coupons-console-reports")
    assert errors == []
