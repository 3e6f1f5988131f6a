"""A ticket rush end to end in real browsers: bob (Tianhe district) creates it in the
console, adds one ticket and publishes; two members wait on their phones for the
countdown; Frank grabs first and gets his code and QR; the second member is told 已抢完;
bob sees the live counts and the grants list.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from gonghui.activities import actions as activity_actions
from gonghui.activities.kinds.rush import actions as rush_actions
from gonghui.activities.kinds.rush.models import Grant, RushItem
from gonghui.activities.kinds.rush.tests.conftest import RushFactory
from gonghui.activities.models import Activity, ActivityStatus
from gonghui.conftest import Tree, make_member
from gonghui.core.models import User
from gonghui.coupons.tests.conftest import make_template
from gonghui.members.models import Member
from gonghui.testing.browser import DESKTOP, PHONE, console_login, session_context, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def local(value: Any) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%dT%H:%M")


def phone_waits(browser: Browser, base: str, user: User, activity: Activity) -> Page:
    phone = session_context(browser, user, base, **PHONE).new_page()
    phone.goto(f"{base}/a/{activity.pk}/")
    expect(phone.locator("#rush-countdown")).to_be_visible()
    expect(phone.get_by_role("button", name="立即抢")).to_be_disabled()
    return phone


def test_organiser_opens_a_rush_and_members_grab_on_phones(
    live_server: Any, browser: Browser, tree: Tree, bob: User, frank: Member
) -> None:
    base = live_server.url
    # --- the organiser creates, adds the ticket, publishes ----------------------------------
    desk = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **DESKTOP).new_page()
    desk.on("dialog", lambda dialog: dialog.accept())
    console_login(desk, base, "bob", "correct-horse-battery", bob)
    desk.goto(f"{base}/console/activities/new/?org={tree.tianhe.pk}")
    desk.locator("label.radio-card", has_text="抢票").click()
    desk.get_by_label("标题").fill("2027 平安返乡专列抢票")
    now = timezone.now()
    desk.get_by_label("开始时间").fill(local(now + timedelta(days=1)))
    desk.get_by_label("结束时间").fill(local(now + timedelta(days=7)))
    desk.get_by_role("button", name="保存草稿").click()
    expect(desk).to_have_url(re.compile(r"/console/activities/\d+/edit/$"))
    activity = Activity.objects.get(title="2027 平安返乡专列抢票")
    desk.goto(f"{base}/console/activities/{activity.pk}/")
    desk.get_by_role("link", name="票种与库存").click()
    desk.get_by_label("票种名称").fill("平安返乡专列 G1234")
    desk.get_by_label("投放数量").fill("1")
    desk.get_by_label("说明").fill("2027-01-28 广州南→长沙南 二等座")
    desk.get_by_role("button", name="添加票种").last.click()
    expect(desk.locator("#rush-items")).to_contain_text("平安返乡专列 G1234")
    shot(desk, "activity-rush-console-items")
    desk.get_by_role("link", name=activity.title).first.click()
    desk.get_by_role("button", name="发布", exact=True).click()
    expect(desk.locator("#activity-state")).to_have_text("未开始")
    activity.refresh_from_db()
    assert activity.status == ActivityStatus.PUBLISHED

    # The test cannot wait a day: the doors open in a few seconds instead.
    Activity.objects.filter(pk=activity.pk).update(starts_at=timezone.now() + timedelta(seconds=6))

    # --- two members wait for the countdown ------------------------------------------------
    assert frank.user is not None
    other = make_member(tree.tianhe_union, "林晓")
    other.user = User.objects.create_user("13900000077", password="correct-horse-battery", name="林晓")
    other.save(update_fields=["user"])
    phone = phone_waits(browser, base, frank.user, activity)
    late = phone_waits(browser, base, other.user, activity)
    shot(phone, "activity-rush-portal-countdown")

    # --- the doors open: Frank grabs first ------------------------------------------------
    grab = phone.get_by_role("button", name="立即抢")
    expect(grab).to_be_enabled(timeout=20_000)
    expect(phone.locator("#rush-countdown")).to_contain_text("已开抢")
    grab.click()
    expect(phone.locator("#rush-outcome")).to_have_attribute("data-outcome", "won")
    code = Grant.objects.get(activity=activity, member=frank).code
    expect(phone.locator("#rush-code")).to_have_text(code)
    expect(phone.locator(".rush-qr svg")).to_be_visible()
    shot(phone, "activity-rush-portal-won")

    # --- the second member is told it is gone -----------------------------------------------
    late_grab = late.get_by_role("button", name="立即抢")
    expect(late_grab).to_be_enabled(timeout=20_000)
    late_grab.click()
    expect(late.locator("#rush-outcome")).to_have_attribute("data-outcome", "sold_out")
    expect(late.locator("#rush-outcome")).to_contain_text("已抢完")
    shot(late, "activity-rush-portal-sold-out")
    assert RushItem.objects.get(activity=activity).remaining == 0
    assert Grant.objects.filter(activity=activity).count() == 1

    # --- Frank finds his ticket again from 我的活动 -----------------------------------------
    phone.goto(f"{base}/me/activities/")
    phone.get_by_role("link", name=re.compile("平安返乡")).first.click()
    expect(phone.locator("#rush-code")).to_have_text(code)

    # --- the organiser sees the counts and the list ---------------------------------------
    desk.goto(f"{base}/console/activities/{activity.pk}/")
    expect(desk.locator("#rush-taken")).to_contain_text("1")
    expect(desk.locator("#rush-remaining")).to_contain_text("0")
    shot(desk, "activity-rush-console-results")
    desk.get_by_role("link", name="抢票名单").first.click()
    expect(desk.locator("#rush-grants")).to_contain_text(code)
    expect(desk.locator("#rush-grants")).to_contain_text("范*")
    shot(desk, "activity-rush-console-grants")


def test_a_member_who_grabs_a_coupon_finds_it_in_the_wallet_on_a_phone(
    live_server: Any, browser: Browser, tree: Tree, bob: User, frank: Member, make_rush: RushFactory
) -> None:
    """A coupon item (抢券): the grab puts the coupon in the wallet; the grant panel names
    the coupon and links to it and to the wallet instead of showing a redemption code."""
    base = live_server.url
    template = make_template(bob, tree.tianhe, [], name="从化温泉双人票", quantity=5)
    later = {"cancel_deadline": (timezone.now() + timedelta(days=1)).isoformat()}
    activity, _ = make_rush((), publish=False, settings=later)
    item = rush_actions.add_item(
        actor=None, activity=activity, name="温泉双人游（周末）", stock=2, coupon_template_id=template.pk
    )
    activity = activity_actions.publish_activity(actor=None, activity=activity)

    assert frank.user is not None
    errors: list[str] = []
    phone = session_context(browser, frank.user, base, **PHONE).new_page()
    desk = session_context(browser, frank.user, base, **DESKTOP).new_page()
    for page in (phone, desk):
        page.on("pageerror", lambda exc: errors.append(str(exc)))
    phone.goto(f"{base}/a/{activity.pk}/")
    phone.get_by_role("button", name="立即抢").click()
    expect(phone.locator("#rush-outcome")).to_have_attribute("data-outcome", "won")
    expect(phone.locator("#rush-coupon")).to_contain_text("从化温泉双人票")  # the grab's own answer
    grant = Grant.objects.select_related("coupon").get(activity=activity, member=frank)
    assert grant.item_id == item.pk and grant.coupon is not None

    for size, page in (("phone", phone), ("desktop", desk)):
        page.goto(f"{base}/a/{activity.pk}/")
        coupon = page.locator("#rush-coupon")
        expect(coupon).to_contain_text("券：从化温泉双人票")
        expect(coupon.get_by_role("link", name="查看这张券")).to_have_attribute(
            "href", f"/me/coupons/{grant.coupon.code}/"
        )
        wallet = coupon.get_by_role("link", name="打开我的券")
        expect(wallet).to_be_visible()
        expect(wallet).to_have_attribute("href", "/me/coupons/")
        expect(page.locator("#rush-code")).to_have_count(0)  # a coupon, not a redemption code
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), size
        shot(page, f"rush-coupon-grant-{size}")
    phone.locator("#rush-coupon").get_by_role("link", name="打开我的券").click()
    expect(phone).to_have_url(re.compile(r"/me/coupons/$"))
    expect(phone.locator("#coupon-list")).to_contain_text("从化温泉双人票")
    assert errors == []
