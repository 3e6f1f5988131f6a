"""The console in a real browser, at phone and desktop widths.

Bob (Tianhe admin) signs in with password and TOTP, walks the tree down to a grassroots
union, finds a member by pinyin initials, reveals her ID number (an audit row appears),
and gets the 404 page for a member of charlie's Nanshan district.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Browser, Page, expect

from gonghui.conftest import Tree, make_member
from gonghui.core import idnumbers, sms
from gonghui.core.models import AuditEvent, User
from gonghui.members.models import Member
from gonghui.orgs import actions as org_actions
from gonghui.portal.tests.helpers import latest_code
from gonghui.testing.browser import DESKTOP, PHONE, console_login, totp_code
from gonghui.testing.browser import shot as browser_shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"
WIDTHS = {"phone": PHONE, "desktop": DESKTOP}


def shot(page: Page, name: str) -> None:
    """Save var/screenshots/console-``name``.png."""
    browser_shot(page, f"console-{name}", folder=SHOTS)


def go_to(page: Page, width: str, link: str) -> None:
    """Follow a side-navigation link; on a phone the navigation is a drawer behind ☰."""
    if width == "phone":
        page.get_by_role("button", name="打开导航菜单").click()
    page.get_by_role("navigation", name="管理导航").get_by_role("link", name=link).click()


def furnish(tree: Tree) -> dict[str, Member]:
    org_actions.update_org(
        actor=None,
        org=tree.tianhe_union,
        values={"chair_name": "陈建国", "address": "广州市天河区天河软件园建中路 5 号", "employee_count": 320},
    )
    people = {
        "target": make_member(
            tree.tianhe_union,
            "周晓梅",
            mobile="13712340001",
            workplace="广州天河软件园有限公司",
            id_number=idnumbers.make("440106", date(1992, 3, 8), 42),
            education="bachelor",
        ),
        "other": make_member(tree.tianhe_union, "赵小明", mobile="13712340002"),
        "street": make_member(tree.tianhe_street, "张伟", mobile="13712340003"),
        "nanshan": make_member(tree.nanshan_union, "李南山", mobile="13712340004"),
    }
    return people


@pytest.mark.parametrize("width", list(WIDTHS))
def test_cadre_signs_in_browses_finds_reveals_and_meets_404(
    live_server: Any, browser: Browser, tree: Tree, bob: User, charlie: User, width: str
) -> None:
    people = furnish(tree)
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **WIDTHS[width])
    page = context.new_page()

    # --- sign in: password, then the dynamic code ---------------------------------------
    page.goto(f"{live_server.url}/console/")
    expect(page).to_have_url(re.compile(r"/console/login/"))
    expect(page.get_by_role("heading", name="工会干部登录")).to_be_visible()
    assert page.evaluate("typeof window.htmx") == "object"
    page.get_by_label("登录名或手机号").fill("bob")
    page.get_by_label("密码", exact=True).fill("wrong-password-1")
    page.get_by_role("button", name="登录", exact=True).first.click()
    expect(page.get_by_role("alert")).to_contain_text("登录名或密码错误")
    shot(page, f"login-error-{width}")
    page.get_by_label("密码", exact=True).fill("correct-horse-battery")
    page.get_by_role("button", name="登录", exact=True).first.click()

    expect(page.get_by_role("heading", name="输入动态口令")).to_be_visible()
    shot(page, f"otp-{width}")
    page.get_by_label("动态口令或恢复码").fill(totp_code(bob))
    page.get_by_role("button", name="验证并进入").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("您好，鲍勃")
    shot(page, f"dashboard-{width}")

    # --- the tree: 天河区 → street → union -------------------------------------------------
    go_to(page, width, "组织架构")
    expect(page.get_by_role("heading", name="组织架构")).to_be_visible()
    page.get_by_role("button", name="展开 天河区总工会").click()
    page.get_by_role("button", name="展开 天河区石牌街道总工会").click()
    union = page.get_by_role("link", name="广州天河软件园有限公司工会")
    expect(union).to_be_visible()
    expect(page.locator(f"#org-node-{tree.tianhe_union.pk}")).to_contain_text("2 名会员")
    expect(page.locator(f"#org-node-{tree.tianhe_street.pk} > .tree-row")).to_contain_text("3 名会员")
    shot(page, f"tree-{width}")
    union.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("广州天河软件园有限公司工会")
    expect(page.locator(".dl-grid").first).to_contain_text("陈建国")
    shot(page, f"org-detail-{width}")

    # --- find a member by pinyin initials ---------------------------------------------------
    go_to(page, width, "会员管理")
    expect(page.get_by_role("heading", name="会员管理")).to_be_visible()
    page.get_by_label("搜索会员").fill("zxm")
    page.get_by_role("button", name="搜索", exact=True).click()
    results = page.locator("#member-results")
    expect(results).to_contain_text("周晓梅")
    expect(results).to_contain_text("赵小明")
    page.get_by_label("搜索会员").fill("zhouxiao")  # narrows as you type (htmx), full pinyin this time
    expect(results).to_contain_text("周晓梅")
    expect(results).not_to_contain_text("赵小明")
    expect(results).to_contain_text(people["target"].id_number_masked)
    expect(results).to_contain_text("137****0001")
    shot(page, f"members-{width}")

    # --- open the member, reveal the ID number ---------------------------------------------
    page.get_by_role("link", name="周晓梅").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("周晓梅")
    plain = people["target"].reveal_id_number()
    assert plain not in page.content()
    page.get_by_role("button", name="查看明文").click()
    expect(page.locator("#pii-id_number")).to_contain_text(plain)
    expect(page.locator("#pii-id_number")).to_contain_text("本次查看已记入审计日志")
    event = AuditEvent.objects.get(action="member.pii_reveal")
    assert (event.actor_id, event.object_id) == (bob.pk, str(people["target"].pk))
    assert event.details["reason"] == "核实会员身份"
    trail = page.locator("#member-trail")
    expect(trail).to_contain_text("查看明文")  # the reveal shows up in the trail at once
    shot(page, f"member-revealed-{width}")

    # --- another district's member: the same 404 as a missing one --------------------------
    response = page.goto(f"{live_server.url}/console/members/{people['nanshan'].pk}/")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="页面不存在")).to_be_visible()
    expect(page.locator("body")).not_to_contain_text("李南山")
    shot(page, f"404-{width}")

    # --- and the API, with the same browser session: 404 with a JSON code, own data 200 ---
    api = context.request
    other = api.get(f"{live_server.url}/api/v1/members/{people['nanshan'].pk}")
    assert other.status == 404 and other.json()["code"] == "NOT_FOUND"
    assert "李南山" not in other.text()
    own = api.get(f"{live_server.url}/api/v1/members/{people['target'].pk}")
    assert own.status == 200 and own.json()["id"] == people["target"].pk
    context.close()


@pytest.mark.parametrize("width", list(WIDTHS))
def test_first_sign_in_enrolls_totp_and_shows_recovery_codes(
    live_server: Any, browser: Browser, tree: Tree, bob: User, width: str
) -> None:
    TOTPDevice.objects.filter(user=bob).delete()
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **WIDTHS[width])
    page = context.new_page()
    page.goto(f"{live_server.url}/console/login/?tab=sms")
    expect(page.get_by_label("手机号", exact=True)).to_be_visible()
    shot(page, f"login-sms-{width}")
    page.get_by_role("tab", name="密码登录").click()
    page.get_by_label("登录名或手机号").fill("13800000002")
    page.get_by_label("密码", exact=True).fill("correct-horse-battery")
    page.get_by_role("button", name="登录", exact=True).first.click()

    # A password alone does not bind a second factor: first the registered mobile.
    expect(page.get_by_role("heading", name="验证手机")).to_be_visible()
    expect(page.locator("main")).to_contain_text("138****0002")
    assert not TOTPDevice.objects.filter(user=bob).exists()
    page.get_by_role("button", name="获取验证码").click()
    expect(page.locator("#code-feedback")).to_contain_text("验证码已发送至 138****0002")
    expect(page.get_by_role("button", name=re.compile("秒后重发"))).to_be_disabled()
    shot(page, f"enroll-mobile-{width}")
    page.get_by_label("短信验证码").fill(latest_code("13800000002"))
    page.get_by_role("button", name="验证并继续").click()

    expect(page.get_by_role("heading", name="绑定动态口令")).to_be_visible()
    expect(page.get_by_role("img", name="动态口令二维码")).to_be_visible()
    shot(page, f"enroll-{width}")
    device = TOTPDevice.objects.get(user=bob, confirmed=False)
    page.get_by_label("验证码").fill(f"{totp(device.bin_key):06d}")
    page.get_by_role("button", name="确认绑定").click()

    expect(page.get_by_role("heading", name="请保存您的恢复码")).to_be_visible()
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    shot(page, f"recovery-codes-{width}")
    page.get_by_role("link", name="我已妥善保存，继续").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("您好，鲍勃")
    context.close()


@pytest.mark.parametrize("width", list(WIDTHS))
def test_province_admin_pages_look_right(
    live_server: Any, browser: Browser, tree: Tree, alice: User, bob: User, width: str
) -> None:
    """A tour of the remaining pages for the screenshots: forms, errors, audit log, outbox."""
    furnish(tree)
    sms.send_code("13800000002", "login")
    sms.send_sms(
        "17000000001", "【工会】您有一条新的通知。", "notice"
    )  # the sandbox cannot reach 170-0000: a failed send
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **WIDTHS[width])
    page = context.new_page()
    console_login(page, live_server.url, "alice", "correct-horse-battery", alice)

    if width == "phone":
        page.get_by_role("button", name="打开导航菜单").click()
        expect(page.get_by_role("navigation", name="管理导航")).to_be_visible()
        shot(page, "nav-open-phone")
        page.keyboard.press("Escape")

    page.goto(f"{live_server.url}/console/orgs/")
    toggle = page.get_by_role("button", name="展开 广东省总工会")
    toggle.click()
    expect(page.get_by_role("link", name="深圳市总工会")).to_be_visible()
    toggle.click()  # collapses without a request; a third click shows the loaded children again
    expect(page.get_by_role("link", name="深圳市总工会")).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.click()
    expect(page.get_by_role("link", name="深圳市总工会")).to_be_visible()
    assert page.locator(f"#org-children-{tree.province.pk} > li.tree-node").count() == 2

    page.goto(f"{live_server.url}/console/orgs/?q=thq")
    expect(page.locator("#org-browser")).to_contain_text("天河区总工会")
    shot(page, f"org-search-{width}")

    page.goto(f"{live_server.url}/console/orgs/{tree.tianhe_street.pk}/new/")
    page.get_by_label("工会名称").fill("广州石牌物流有限公司工会")
    page.get_by_label("工会统一社会信用代码").fill("91440106MA5CXXXX1X")
    page.get_by_role("button", name="创建").click()
    expect(page.locator(".field-error").first).to_be_visible()
    shot(page, f"org-form-errors-{width}")

    page.goto(f"{live_server.url}/console/orgs/{tree.tianhe_union.pk}/close/")
    expect(page.get_by_text("名会员将转入上级工会")).to_be_visible()
    shot(page, f"org-close-{width}")

    page.goto(f"{live_server.url}/console/orgs/{tree.tianhe_union.pk}/move/")
    shot(page, f"org-move-{width}")

    page.goto(f"{live_server.url}/console/orgs/{tree.tianhe.pk}/roles/")
    shot(page, f"org-roles-{width}")

    member = Member.objects.get(name="周晓梅")
    page.goto(f"{live_server.url}/console/members/{member.pk}/edit/")
    page.get_by_label("手机号", exact=True).fill("12345")
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_text("请输入正确的 11 位手机号")).to_be_visible()
    shot(page, f"member-form-errors-{width}")

    page.goto(f"{live_server.url}/console/audit/")
    expect(page.get_by_role("heading", name="审计日志")).to_be_visible()
    shot(page, f"audit-{width}")

    page.goto(f"{live_server.url}/console/sms/")
    expect(page.get_by_role("heading", name="短信发件箱")).to_be_visible()
    expect(page.locator("table")).to_contain_text("138****0002")
    shot(page, f"sms-{width}")
    context.close()
