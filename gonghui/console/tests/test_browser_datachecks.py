"""数据校验 and 实名核验 in a real browser: run the checks, close findings, verify members."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from gonghui.conftest import Tree, make_member, new_id_number
from gonghui.core.models import User
from gonghui.members.models import DataFinding, FindingStatus, Member
from gonghui.testing.browser import DESKTOP, console_login, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_data_checks_and_verification_in_the_console(
    live_server: Any, browser: Browser, tree: Tree, bob: User, settings: Any
) -> None:
    settings.REALNAME_SANDBOX_RATE_PER_SECOND = 1000
    make_member(tree.tianhe_union, "陈小明", mobile="", workplace="广州天河软件园有限公司")
    make_member(tree.tianhe_union, "李华", mobile="13712345678", workplace="")
    make_member(tree.tianhe_union, "王芳", mobile="13712345678", workplace="软件园", id_number=new_id_number("510104"))
    make_member(tree.tianhe_union, "赵测试不符", mobile="13798765432", workplace="软件园")

    page = browser.new_context(locale="zh-CN", **DESKTOP).new_page()
    console_login(page, live_server.url, bob.username, "correct-horse-battery", bob)
    page.goto(f"{live_server.url}/console/datachecks/")
    page.get_by_label("校验范围").select_option(str(tree.tianhe_union.pk))
    page.get_by_role("button", name="运行校验").click()
    expect(page.locator(".flash, .flashes").first).to_contain_text("新发现")
    expect(page.locator('[data-rule="SAME_MOBILE"] .badge')).to_have_text("2")
    shot(page, "console-data-findings")

    page.get_by_role("link", name=re.compile("手机号重复")).click()
    page.get_by_label("全选本页待处理的结果").check()
    page.get_by_label("处理说明").fill("已电话核实，二人为夫妻共用号码")
    page.get_by_role("button", name="忽略").click()
    expect(page.locator(".flash, .flashes").first).to_contain_text("已忽略")
    assert DataFinding.objects.filter(rule="SAME_MOBILE", status=FindingStatus.DISMISSED).count() == 2

    page.goto(f"{live_server.url}/console/verification/")
    page.get_by_label("核验范围").select_option(str(tree.tianhe_union.pk))
    page.get_by_role("button", name="开始批量核验").click()
    expect(page.locator(".flash, .flashes").first).to_contain_text("已开始核验")
    expect(page.locator("#batch-list .batch-status").first).to_have_text("已完成", timeout=15000)
    page.reload()
    shot(page, "console-verification")

    zhao = Member.objects.get(name="赵测试不符")
    assert zhao.verification_status == "failed"
    page.goto(f"{live_server.url}/console/members/{zhao.pk}/")
    page.get_by_label("人工审核说明").fill("已当面核对身份证原件")
    page.get_by_role("button", name="人工审核通过").click()
    expect(page.locator("#verification-status")).to_have_text("已实名")
    page.locator("#verification").scroll_into_view_if_needed()
    shot(page, "console-member-verification")
