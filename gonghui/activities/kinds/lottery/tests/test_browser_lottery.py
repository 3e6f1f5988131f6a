"""A lottery end to end in real browsers: bob (Tianhe district) creates it in the console,
adds prizes and publishes (the seed commitment appears); two members enter on their
phones and get their entry codes; bob ends it early, which draws; Frank sees his win,
confirms it and gets a claim code, finds his code on the public results page, and bob
hands the prize over by that code.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from gonghui.activities import actions as activity_actions
from gonghui.activities.kinds.lottery import actions as lottery_actions
from gonghui.activities.kinds.lottery.models import Draw, Entry, Win, WinStatus
from gonghui.activities.kinds.lottery.tests.conftest import LotteryFactory
from gonghui.activities.models import Activity, ActivityStatus
from gonghui.conftest import Tree, make_member
from gonghui.core.models import User
from gonghui.coupons.tests.conftest import make_template
from gonghui.members.models import Member
from gonghui.testing.browser import DESKTOP, PHONE, console_login, session_context, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def local(value: Any) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%dT%H:%M")


def phone_enters(browser: Browser, base: str, user: User, activity: Activity, screenshot: str = "") -> Page:
    phone = session_context(browser, user, base, **PHONE).new_page()
    phone.goto(f"{base}/a/{activity.pk}/")
    expect(phone.locator("#eligibility")).to_have_attribute("data-code", "OK")
    expect(phone.locator("#lottery-commitment")).to_have_text(Draw.objects.get(activity=activity).commitment)
    if screenshot:
        shot(phone, f"{screenshot}-before")
    phone.get_by_role("button", name="参与抽奖").click()
    expect(phone.get_by_text(re.compile("参与成功！您的参与码是"))).to_be_visible()
    expect(phone.locator("#lottery-entry")).to_contain_text("已参与")
    if screenshot:
        shot(phone, screenshot)
    return phone


def test_organiser_runs_a_lottery_and_a_winner_claims_on_a_phone(
    live_server: Any, browser: Browser, tree: Tree, bob: User, frank: Member
) -> None:
    base = live_server.url
    # --- the organiser creates and publishes ------------------------------------------------
    desk = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **DESKTOP).new_page()
    desk.on("dialog", lambda dialog: dialog.accept())
    console_login(desk, base, "bob", "correct-horse-battery", bob)
    desk.goto(f"{base}/console/activities/new/?org={tree.tianhe.pk}")
    desk.locator("label.radio-card", has_text="抽奖").click()
    desk.get_by_label("标题").fill("五一劳动节职工幸运抽奖")
    now = timezone.now()
    desk.get_by_label("开始时间").fill(local(now - timedelta(minutes=5)))
    desk.get_by_label("结束时间").fill(local(now + timedelta(days=7)))
    desk.get_by_role("button", name="保存草稿").click()
    expect(desk).to_have_url(re.compile(r"/console/activities/\d+/edit/$"))
    activity = Activity.objects.get(title="五一劳动节职工幸运抽奖")
    desk.get_by_label("领奖期限（天）").fill("5")
    desk.get_by_role("button", name=re.compile("保存")).last.click()
    expect(desk).to_have_url(re.compile(rf"/console/activities/{activity.pk}/$"))
    activity.refresh_from_db()
    assert activity.settings["claim_days"] == 5

    desk.get_by_role("link", name="奖品设置").click()
    expect(desk.get_by_role("heading", name="奖品设置")).to_be_visible()
    for name, quantity, order in (("一等奖：扫地机器人", "1", "1"), ("纪念奖：工会定制水杯", "2", "2")):
        desk.get_by_label("奖品名称").fill(name)
        desk.get_by_label("数量").fill(quantity)
        desk.get_by_label("排序").fill(order)
        desk.get_by_label("领奖说明").fill("凭领奖码到天河区总工会一楼服务大厅领取，周一至周五 9:00–17:00。")
        desk.get_by_role("button", name="添加奖品").last.click()
        expect(desk.locator("#lottery-prizes")).to_contain_text(name)
    shot(desk, "activity-lottery-console-prizes")
    desk.get_by_role("link", name=activity.title).first.click()
    desk.get_by_role("button", name="发布", exact=True).click()
    expect(desk.get_by_text("进行中").first).to_be_visible()
    activity.refresh_from_db()
    assert activity.status == ActivityStatus.PUBLISHED
    commitment = Draw.objects.get(activity=activity).commitment
    expect(desk.locator("#lottery-commitment")).to_have_text(commitment)

    # --- members enter on their phones --------------------------------------------------
    assert frank.user is not None
    phone = phone_enters(browser, base, frank.user, activity, "activity-lottery-portal-entered")
    frank_code = Entry.objects.get(activity=activity, member=frank).code
    expect(phone.locator("#lottery-my-code")).to_have_text(frank_code)
    other = make_member(tree.tianhe_union, "林晓")
    other.user = User.objects.create_user("13900000077", password="correct-horse-battery", name="林晓")
    other.save(update_fields=["user"])
    phone_enters(browser, base, other.user, activity)
    assert Entry.objects.filter(activity=activity).count() == 2

    # --- the organiser ends it: the draw runs --------------------------------------------
    desk.reload()
    expect(desk.locator("#participation-count")).to_contain_text("2")
    desk.locator("summary", has_text="提前结束").click()
    desk.get_by_label("提前结束的原因").fill("奖品已备齐，提前开奖")
    desk.get_by_role("button", name="确认提前结束").click()
    expect(desk.locator("#lottery-seed")).to_be_visible()
    expect(desk.locator("#lottery-winners")).to_contain_text(frank_code)
    shot(desk, "activity-lottery-console-drawn")
    assert Win.objects.filter(activity=activity).count() == 2  # three prizes, two entries

    # --- the winner sees the win and claims it ---------------------------------------------
    phone.goto(f"{base}/a/{activity.pk}/")
    wins = phone.locator("#lottery-wins")
    expect(wins).to_contain_text("待领奖")
    phone.get_by_role("button", name="确认领奖").click()
    expect(phone.get_by_text(re.compile("已确认领奖，领奖码"))).to_be_visible()
    win = Win.objects.get(activity=activity, entry__member=frank)
    assert win.status == WinStatus.CLAIMED
    expect(phone.locator("#lottery-claim-code")).to_have_text(win.claim_code)
    shot(phone, "activity-lottery-portal-claimed")
    phone.get_by_role("link", name="查看开奖结果").click()
    expect(phone.locator("#lottery-seed")).to_have_text(Draw.objects.get(activity=activity).seed_hex)
    expect(phone.locator("#lottery-winners tr.is-me")).to_contain_text(frank_code)
    shot(phone, "activity-lottery-portal-results")

    # --- the organiser hands it over by the claim code -------------------------------------
    desk.goto(f"{base}/console/activities/{activity.pk}/lottery/winners/")
    desk.get_by_role("textbox", name="领奖码").fill(win.claim_code)
    desk.get_by_role("button", name="核对并兑奖").click()
    expect(desk.get_by_text(re.compile("已兑奖：范克"))).to_be_visible()
    expect(desk.locator(f"#win-{win.pk}")).to_contain_text("已兑奖")
    shot(desk, "activity-lottery-console-winners")
    assert Win.objects.get(pk=win.pk).status == WinStatus.HANDED_OVER


def test_a_member_who_wins_a_coupon_finds_it_in_the_wallet_on_a_phone(
    live_server: Any, browser: Browser, tree: Tree, bob: User, frank: Member, make_lottery: LotteryFactory
) -> None:
    """A coupon prize needs no claiming: the win panel names the coupon, links to it and to
    the wallet, and the wallet lists it."""
    base = live_server.url
    template = make_template(bob, tree.tianhe, [], name="从化温泉双人票", quantity=5)
    activity = make_lottery(prizes=(), publish=False)
    lottery_actions.add_prize(
        actor=None,
        activity=activity,
        values={"name": "一等奖：温泉双人游", "quantity": 1, "order": 1, "coupon_template_id": template.pk},
    )
    activity = activity_actions.publish_activity(actor=None, activity=activity)
    lottery_actions.enter(member=frank, activity=activity)
    activity_actions.close_activity(actor=None, activity=activity)  # the draw, at close
    win = Win.objects.select_related("coupon").get(activity=activity, entry__member=frank)
    assert win.coupon is not None and win.status == WinStatus.HANDED_OVER

    assert frank.user is not None
    errors: list[str] = []
    phone = session_context(browser, frank.user, base, **PHONE).new_page()
    desk = session_context(browser, frank.user, base, **DESKTOP).new_page()
    for size, page in (("phone", phone), ("desktop", desk)):
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{base}/a/{activity.pk}/")
        wins = page.locator("#lottery-wins")
        expect(wins).to_contain_text("一等奖：温泉双人游")
        expect(wins).to_contain_text("已放入我的券")
        expect(wins.locator("#lottery-coupon")).to_contain_text("券：从化温泉双人票")
        expect(wins.get_by_role("link", name="查看这张券")).to_have_attribute("href", f"/me/coupons/{win.coupon.code}/")
        wallet = wins.get_by_role("link", name="打开我的券")
        expect(wallet).to_be_visible()
        expect(wallet).to_have_attribute("href", "/me/coupons/")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), size
        shot(page, f"lottery-coupon-prize-{size}")
    phone.locator("#lottery-wins").get_by_role("link", name="打开我的券").click()
    expect(phone).to_have_url(re.compile(r"/me/coupons/$"))
    expect(phone.locator("#coupon-list")).to_contain_text("从化温泉双人票")
    assert errors == []
