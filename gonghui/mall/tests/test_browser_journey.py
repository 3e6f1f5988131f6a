"""Issue 6's journey in one browser run: a member earns points by signing in and reading a
news item, spends exactly those points in the mall, and a cadre fulfils the order."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from gonghui.conftest import Tree
from gonghui.core.models import User
from gonghui.mall.models import Order, OrderStatus
from gonghui.mall.tests.conftest import make_goods, verify
from gonghui.members.models import Member
from gonghui.news import actions as news_actions
from gonghui.points import ledger, rules
from gonghui.points.checks import check_points
from gonghui.points.models import RuleKind
from gonghui.testing.browser import DESKTOP, PHONE, console_login, session_context

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_points_earned_by_signing_in_and_reading_buy_an_item_a_cadre_hands_over(
    live_server: Any, browser: Browser, tree: Tree, frank: Member, alice: User, bob: User
) -> None:
    member = verify(frank)
    rules.set_rule(actor=alice, org=tree.province, kind=RuleKind.SIGNIN, values={"points": 30})
    rules.set_rule(
        actor=alice, org=tree.province, kind=RuleKind.READ_NEWS, values={"points": 20, "min_read_seconds": 1}
    )
    news = news_actions.create_news(
        actor=alice, org=tree.province, values={"title": "职工疗休养政策解读", "body": "<p>今年起疗休养名额增加。</p>"}
    )
    news_actions.publish(actor=alice, news=news)
    make_goods(bob, tree.tianhe, name="工会帆布袋", price_points=50, stock=3, pickup_place="天河区总工会服务台")

    assert member.user is not None
    phone = session_context(browser, member.user, live_server.url, **PHONE).new_page()
    errors: list[str] = []
    phone.on("pageerror", lambda exc: errors.append(str(exc)))

    # Earn: the daily sign-in, then a news item read for the minimum time.
    phone.goto(f"{live_server.url}/me/points/")
    expect(phone.locator("#points-balance")).to_have_text("0")
    phone.get_by_role("button", name="签到", exact=True).click()
    expect(phone.locator("#signin")).to_contain_text("+30 积分")
    phone.goto(f"{live_server.url}/news/{news.pk}/")
    expect(phone.locator("#reading")).to_have_attribute("data-state", "done", timeout=10_000)
    expect(phone.locator("#reading")).to_contain_text("+20 积分")

    # Spend: the 50 points buy the bag.
    phone.goto(f"{live_server.url}/me/points/")
    expect(phone.locator("#points-balance")).to_have_text("50")
    phone.get_by_role("link", name="积分商城").click()
    phone.get_by_role("link", name=re.compile("工会帆布袋")).click()
    phone.get_by_role("link", name="立即兑换").click()
    phone.get_by_role("button", name="确认兑换").click()
    expect(phone.locator("#order-status")).to_have_text("待领取")
    code = phone.locator("#pickup-code").inner_text().strip()
    assert ledger.balance_of(member) == 0

    # Fulfil: the district cadre confirms the pickup by the member's code.
    desk = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **DESKTOP).new_page()
    console_login(desk, live_server.url, "bob", "correct-horse-battery", bob)
    desk.goto(f"{live_server.url}/console/mall/orders/")
    desk.get_by_label(re.compile("取货码")).fill(code)
    desk.get_by_role("button", name="确认领取").click()
    expect(desk.get_by_text(re.compile("已确认领取：工会帆布袋"))).to_be_visible()

    phone.reload()
    expect(phone.locator("#order-status")).to_have_text("已领取")
    phone.goto(f"{live_server.url}/me/points/")
    statement = phone.locator("#statement")
    expect(statement).to_contain_text("每日签到")
    expect(statement).to_contain_text("阅读资讯")
    expect(statement.locator("li[data-kind='spend']")).to_contain_text("−50")
    assert Order.objects.get().status == OrderStatus.PICKED_UP
    assert check_points().ok
    assert errors == []
