"""A transfer between grassroots unions in two different districts, in real browsers.

Frank (a member in Tianhe, Guangzhou) asks on his phone to move to a union in Nanshan,
Shenzhen; bob (Tianhe district) releases in his console, charlie (Nanshan district)
accepts in his; Frank's membership history then shows both unions.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from gonghui.conftest import Tree
from gonghui.core.models import User
from gonghui.members.models import Member, Transfer, TransferStatus
from gonghui.orgs import actions as org_actions
from gonghui.testing.browser import DESKTOP, PHONE, console_login, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def console_as(browser: Browser, live_server: Any, user: User) -> Page:
    """A desktop browser signed in to the console as ``user``."""
    page = browser.new_context(locale="zh-CN", **DESKTOP).new_page()
    console_login(page, live_server.url, user.username, "correct-horse-battery", user)
    return page


def test_transfer_between_two_districts_with_each_side_in_its_own_console(
    live_server: Any, browser: Browser, tree: Tree, frank: Member, bob: User, charlie: User
) -> None:
    org_actions.update_org(actor=None, org=tree.nanshan_union, values={"address": "深圳市南山区科技园 8 号"})

    # --- the member, on a phone ------------------------------------------------------
    phone = browser.new_context(locale="zh-CN", **PHONE).new_page()
    phone.goto(f"{live_server.url}/login/?tab=password")
    phone.get_by_label("登录名或手机号").fill("13900000006")
    phone.get_by_label("密码").fill("correct-horse-battery")
    phone.get_by_role("button", name="登录", exact=True).click()
    expect(phone).to_have_url(re.compile(r"/u/\d+/$"))
    phone.goto(f"{live_server.url}/me/")
    phone.get_by_role("link", name=re.compile("申请转会")).click()
    expect(phone.get_by_role("heading", name="转会申请")).to_be_visible()
    phone.get_by_label("搜索接收工会").press_sequentially("sznskj", delay=30)
    choice = phone.locator(".pick", has_text=tree.nanshan_union.name)
    expect(choice).to_be_visible()
    choice.click()
    phone.get_by_label("新工作单位").fill("深圳南山科技有限公司")
    phone.get_by_label("转会原因").fill("工作调动到深圳")
    shot(phone, "portal-transfer")
    phone.get_by_role("button", name="提交转会申请").click()
    expect(phone.get_by_role("heading", name="转会进度")).to_be_visible()
    expect(phone.locator(".progress li.is-current")).to_contain_text("原工会同意转出")
    transfer = Transfer.objects.get(member=frank)
    assert transfer.status == TransferStatus.REQUESTED

    # --- the outgoing district (Tianhe) releases --------------------------------------
    out = console_as(browser, live_server, bob)
    out.get_by_role("navigation", name="管理导航").get_by_role("link", name="转会办理").click()
    out.get_by_role("link", name=re.compile("转出待办理")).click()
    row = out.locator(f"#transfer-{transfer.pk}")
    expect(row).to_contain_text("范克")
    row.get_by_role("button", name="同意转出").click()
    expect(out.get_by_text("等待转入工会接收")).to_be_visible()

    # --- the receiving district (Nanshan) accepts -------------------------------------
    into = console_as(browser, live_server, charlie)
    into.get_by_role("navigation", name="管理导航").get_by_role("link", name="转会办理").click()
    row = into.locator(f"#transfer-{transfer.pk}")
    expect(row).to_contain_text(tree.tianhe_union.name)
    shot(into, "console-transfers")
    row.get_by_role("button", name="接收", exact=True).click()
    expect(into.get_by_text("已接收 范克 转入")).to_be_visible()
    member = Member.objects.get(pk=frank.pk)
    assert member.org_id == tree.nanshan_union.pk and member.join_date == frank.join_date

    # --- the member's history shows both unions ---------------------------------------
    phone.goto(f"{live_server.url}/me/membership/")
    stays = phone.locator(".stay")
    expect(stays).to_have_count(2)
    expect(stays.nth(0)).to_contain_text(tree.tianhe_union.name)
    expect(stays.nth(1)).to_contain_text(tree.nanshan_union.name)
    expect(phone.locator(".events")).to_contain_text(f"{tree.tianhe_union.name} → {tree.nanshan_union.name}")
    shot(phone, "portal-membership-history")
