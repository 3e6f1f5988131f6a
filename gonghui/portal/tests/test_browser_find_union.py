"""一键找到工会 in a real phone-sized browser: type pinyin initials, open the union."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from gonghui.conftest import Tree, make_org
from gonghui.orgs import actions as org_actions
from gonghui.orgs.models import OrgLevel
from gonghui.testing.browser import PHONE, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_worker_finds_union_by_pinyin_initials_on_a_phone(live_server: Any, browser: Browser, tree: Tree) -> None:
    org_actions.update_org(actor=None, org=tree.tianhe_union, values={"address": "广州市天河区建中路 6 号"})
    context = browser.new_context(viewport=PHONE["viewport"], locale="zh-CN")
    page = context.new_page()
    page.goto(f"{live_server.url}/")
    page.get_by_role("link", name="找工会").click()
    expect(page.get_by_role("heading", name="一键找到工会")).to_be_visible()

    page.get_by_label("搜索工会").press_sequentially("gzthrjy", delay=40)
    result = page.locator(".find-card", has_text="广州天河软件园有限公司工会")
    expect(result).to_be_visible()
    expect(result).to_contain_text("基层工会")
    expect(result).to_contain_text("上级：天河区石牌街道总工会")
    assert "q=gzthrjy" in page.url  # the live search is shareable and survives a reload

    # The cascade: pick Guangdong → Guangzhou → Tianhe, and the no-union panel offers help.
    page.get_by_label("省份").select_option("440000")
    page.get_by_label("城市").select_option("440100")
    page.get_by_label("区县").select_option("440106")
    panel = page.locator(".find-none")
    expect(panel.locator(".find-card").first).to_contain_text("天河区石牌街道总工会")
    expect(panel).to_contain_text("一次入会、动态接转")
    page.get_by_label("街道（乡镇）").select_option(str(tree.tianhe_street.pk))
    expect(result).to_be_visible()

    # A delivery rider is offered the city's pool union.
    pool = make_org(tree.guangzhou, OrgLevel.FEDERATION, "广州市新就业形态劳动者工会联合会", region_code="440100")
    org_actions.update_org(actor=None, org=pool, values={"is_pool_union": True})
    page.get_by_label("新就业形态劳动者").select_option("food_delivery")
    expect(page.locator(".find-pool")).to_contain_text("广州市新就业形态劳动者工会联合会")

    shot(page, "portal-find-union")

    result.click()
    expect(page.get_by_role("heading", name="广州天河软件园有限公司工会")).to_be_visible()
    assert page.url.endswith(f"/u/{tree.tianhe_union.pk}/")
    context.close()
