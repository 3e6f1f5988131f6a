"""积分 and 资讯 in a real phone-sized browser: a member signs in for the day (+N, 今日已签到),
reads a news item for the minimum reading time and finds the points in the statement;
the cadre's news, rules and report pages on a desktop."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image, ImageDraw
from playwright.sync_api import Browser, expect

from gonghui.conftest import Tree
from gonghui.core.models import User
from gonghui.members.models import Member
from gonghui.news import actions as news_actions
from gonghui.points import ledger, rules
from gonghui.points.models import RuleKind
from gonghui.testing.browser import DESKTOP, PHONE, console_login, session_context, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def cover_image() -> SimpleUploadedFile:
    image = Image.new("RGB", (1280, 720), "#c8161d")
    draw = ImageDraw.Draw(image)
    for i in range(0, 1280, 80):
        draw.rectangle([i, 520, i + 50, 720], fill="#f5c04a")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return SimpleUploadedFile("cover.png", buffer.getvalue(), content_type="image/png")


def test_a_member_signs_in_reads_news_and_sees_the_points(
    live_server: Any, browser: Browser, tree: Tree, frank: Member, alice: User
) -> None:
    rules.set_rule(
        actor=alice, org=tree.province, kind=RuleKind.SIGNIN, values={"points": 3, "streak_days": 7, "streak_bonus": 10}
    )
    rules.set_rule(actor=alice, org=tree.province, kind=RuleKind.READ_NEWS, values={"points": 2, "min_read_seconds": 2})
    news = news_actions.create_news(
        actor=alice,
        org=tree.province,
        values={
            "title": "省总工会启动2025年职工技能大赛",
            "summary": "全省各级工会组织职工报名参赛",
            "tags": "技能大赛，通知",
            "body": "<p>为弘扬劳模精神、劳动精神、工匠精神，省总工会决定举办全省职工技能大赛。</p>"
            "<h3>参赛对象</h3><ul><li>全省在职职工</li><li>新就业形态劳动者</li></ul>"
            "<p><strong>报名时间：</strong>即日起至 6 月 30 日。</p>",
        },
        cover=cover_image(),
    )
    news_actions.publish(actor=alice, news=news)
    pinned = news_actions.create_news(
        actor=alice, org=tree.tianhe, values={"title": "天河区夏日送清凉活动安排", "tags": "送清凉", "pinned": True}
    )
    news_actions.publish(actor=alice, news=pinned)
    ledger.earn(member=frank, amount=20, key="browser:welcome", reason="入会奖励")

    assert frank.user is not None
    page = session_context(browser, frank.user, live_server.url, **PHONE).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    page.goto(f"{live_server.url}/me/")
    page.get_by_role("link", name=re.compile("我的积分")).click()
    expect(page).to_have_url(re.compile(r"/me/points/$"))
    expect(page.locator("#points-balance")).to_have_text("20")
    page.get_by_role("button", name="签到", exact=True).click()
    expect(page.locator("#signin")).to_contain_text("+3 积分")
    expect(page.locator("#signin")).to_contain_text("今日已签到")
    expect(page.locator("#points-balance")).to_have_text("23")
    shot(page, "portal-points-signin")
    page.reload()
    expect(page.locator("#signin")).to_contain_text("今日已签到")
    expect(page.get_by_role("button", name="签到", exact=True)).to_have_count(0)

    page.get_by_role("link", name="读资讯赚积分").click()
    expect(page).to_have_url(re.compile(r"/news/$"))
    expect(page.locator(".news-row").first).to_contain_text("天河区夏日送清凉活动安排")  # pinned first
    shot(page, "portal-news-list")
    page.get_by_role("link", name=re.compile("职工技能大赛")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("省总工会启动2025年职工技能大赛")
    reading = page.locator("#reading")
    expect(reading).to_have_attribute("data-state", "reading")
    expect(reading).to_contain_text("阅读满 2 秒")
    expect(reading).to_have_attribute("data-state", "done", timeout=10_000)
    expect(reading).to_contain_text("+2 积分")
    shot(page, "portal-news-read")
    page.reload()  # a second visit pays nothing more
    expect(page.locator("#reading")).to_contain_text("本文已读完，获得 2 积分")

    page.goto(f"{live_server.url}/me/points/")
    expect(page.locator("#points-balance")).to_have_text("25")
    statement = page.locator("#statement")
    expect(statement.locator("li").first).to_contain_text("阅读资讯")
    expect(statement.locator("li").first).to_contain_text("+2")
    expect(statement).to_contain_text("每日签到")
    expect(statement).to_contain_text("入会奖励")
    shot(page, "portal-points")
    assert ledger.balance_of(frank) == 25
    assert errors == []

    # The cadre's side: the item with its read count, the rules, the report.
    console = browser.new_context(**DESKTOP, locale="zh-CN", timezone_id="Asia/Shanghai").new_page()
    console.on("pageerror", lambda exc: errors.append(str(exc)))
    console_login(console, live_server.url, "alice", "correct-horse-battery", alice)
    console.get_by_role("link", name="资讯", exact=True).click()
    expect(console.locator("#news-table")).to_contain_text("省总工会启动2025年职工技能大赛")
    console.get_by_role("link", name="省总工会启动2025年职工技能大赛").click()
    expect(console.locator("#read-count")).to_contain_text("1")
    shot(console, "console-news-detail")
    console.goto(f"{live_server.url}/console/news/new/")
    console.get_by_label("标题").fill("关于开展职工疗休养的通知")
    console.locator("#id_body").fill("<p>各基层工会：</p><p>现将<strong>2025 年职工疗休养</strong>安排通知如下。</p>")
    console.get_by_role("button", name="预览").click()
    expect(console.locator("#news-preview")).to_contain_text("2025 年职工疗休养")
    shot(console, "console-news-compose")
    console.get_by_role("link", name="积分规则").click()
    expect(console.locator("#rules-in-effect")).to_contain_text("阅读满 2 秒")
    shot(console, "console-points-rules")
    console.get_by_role("link", name="积分报表").click()
    expect(console.locator("#sum-issued")).to_contain_text("25")
    console.wait_for_timeout(300)
    shot(console, "console-points-report")
    assert errors == []
