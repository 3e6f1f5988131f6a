"""Sign-up end to end in real browsers.

Bob (Tianhe district admin) creates a sign-up in the console's generic activity pages,
fills the kind's settings (capacity 1, a waitlist, a T-shirt size question, the venue) and
publishes it. Frank signs up on his phone with the form and gets his QR ticket; a second
member lands on the waitlist. At the venue Gina (a 干事 of the district union) opens the
check-in page on her phone (a phone-sized console) and types Frank's code:
签到成功 and the attendance count goes to 1; the same code again says 已签到 at HH:MM; the
waitlisted member's code says 候补中; a code nobody holds says 未报名.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, expect

from gonghui.activities.kinds.signup import actions
from gonghui.activities.kinds.signup.models import Registration, RegistrationStatus
from gonghui.activities.models import Activity, ActivityStatus
from gonghui.conftest import Tree, make_cadre, make_member
from gonghui.core.access import RoleKind
from gonghui.core.models import User
from gonghui.members.models import Member
from gonghui.testing.browser import DESKTOP, PHONE, console_login, session_context, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_organiser_publishes_member_signs_up_and_gets_a_ticket_cadre_checks_in_on_a_phone(
    live_server: Any, browser: Browser, tree: Tree, bob: User, frank: Member
) -> None:
    # --- the organiser, in the console -----------------------------------------------
    desk = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **DESKTOP).new_page()
    desk.on("dialog", lambda dialog: dialog.accept())
    console_login(desk, live_server.url, "bob", "correct-horse-battery", bob)
    desk.goto(f"{live_server.url}/console/activities/new/")
    desk.locator("label.radio-card", has_text="报名").click()
    desk.get_by_label("主办工会").select_option(label=tree.tianhe.name)
    desk.get_by_label("标题").fill("职工登山活动报名")
    start = timezone.localtime() - timedelta(minutes=5)
    desk.get_by_label("开始时间").fill(start.strftime("%Y-%m-%dT%H:%M"))
    desk.get_by_label("结束时间").fill((start + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M"))
    desk.get_by_role("button", name="保存草稿").click()
    expect(desk.get_by_role("heading", level=1, name="编辑活动")).to_be_visible()
    settings = desk.locator("#kind-settings")
    settings.locator("#id_s-capacity").fill("1")
    settings.get_by_label("名额满后允许候补").check()
    settings.get_by_label("活动地点").fill("白云山南门")
    settings.get_by_label("报名表字段").fill("T恤尺码 | 选择 | 必填 | S/M/L")
    shot(desk, "activity-signup-console-settings")
    desk.get_by_role("button", name="保存", exact=True).click()
    desk.get_by_role("button", name="发布", exact=True).click()
    expect(desk.locator("#activity-state")).to_have_text("进行中")
    activity = Activity.objects.get(title="职工登山活动报名")
    assert activity.status == ActivityStatus.PUBLISHED
    assert activity.settings["form_fields"][0]["choices"] == ["S", "M", "L"]

    # --- frank signs up on his phone ----------------------------------------------------
    assert frank.user is not None
    phone = session_context(browser, frank.user, live_server.url, **PHONE).new_page()
    phone.goto(f"{live_server.url}/a/{activity.pk}/")
    expect(phone.locator("#signup-remaining")).to_have_text("1")
    phone.get_by_label("T恤尺码").select_option("M")
    shot(phone, "activity-signup-portal-form")
    phone.get_by_role("button", name="立即报名").click()
    expect(phone.get_by_role("heading", level=1, name="签到二维码")).to_be_visible()
    expect(phone.locator("#signup-qr")).to_be_visible()
    registration = Registration.objects.get(member=frank)
    assert registration.status == RegistrationStatus.CONFIRMED and registration.answers == {"f1": "M"}
    expect(phone.locator("#ticket-code")).to_have_text(registration.ticket_display)
    shot(phone, "activity-signup-portal-ticket")

    # A second member finds the seat gone and joins the waitlist.
    lin = make_member(tree.tianhe_union, "林候补")
    actions.sign_up(member=lin, activity=activity, answers={"f1": "S"})
    phone.goto(f"{live_server.url}/a/{activity.pk}/")
    expect(phone.locator("#signup-state")).to_have_attribute("data-status", "confirmed")
    expect(phone.locator("#signup-waitlisted")).to_have_text("1")

    # --- gina, district staff, checks people in on her phone ---------------------------------
    gina = make_cadre("gina", "吉娜", tree.tianhe, RoleKind.STAFF)
    door = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **PHONE).new_page()
    console_login(door, live_server.url, "gina", "correct-horse-battery", gina)
    door.goto(f"{live_server.url}/console/activities/{activity.pk}/")
    door.get_by_role("link", name="扫码签到").first.click()
    expect(door.get_by_role("heading", level=1, name="扫码签到")).to_be_visible()
    expect(door.locator("#attendance-checked-in")).to_have_text("0")
    expect(door.locator("#attendance-confirmed")).to_have_text("1")
    code = door.get_by_label("签到码或二维码内容")
    code.fill(registration.ticket_display.lower())
    door.get_by_role("button", name="签到", exact=True).click()
    result = door.locator("#checkin-result-panel")
    expect(result).to_have_attribute("data-outcome", "checked_in")
    expect(result).to_contain_text("签到成功")
    expect(result).to_contain_text("范*")
    expect(door.locator("#attendance-checked-in")).to_have_text("1")
    shot(door, "activity-signup-console-checkin")
    registration.refresh_from_db()
    assert registration.checked_in_at is not None and registration.checked_in_by == gina
    at = timezone.localtime(registration.checked_in_at).strftime("%H:%M")

    expect(code).to_have_value("")  # cleared for the next person
    code.fill(registration.ticket_display)
    door.get_by_role("button", name="签到", exact=True).click()
    expect(result).to_have_attribute("data-outcome", "already")
    expect(result).to_contain_text(f"{at} 已签到")
    expect(door.locator("#attendance-checked-in")).to_have_text("1")

    waiting = Registration.objects.get(member=lin)
    code.fill(waiting.ticket_code)
    door.get_by_role("button", name="签到", exact=True).click()
    expect(result).to_have_attribute("data-outcome", "waitlisted")
    expect(result).to_contain_text("候补中")

    code.fill("ZZZZ-9999")
    door.get_by_role("button", name="签到", exact=True).click()
    expect(result).to_have_attribute("data-outcome", "not_registered")
    expect(result).to_contain_text("未报名")
    shot(door, "activity-signup-console-not-registered")

    # --- the organiser's list shows the counts ----------------------------------------------
    desk.goto(f"{live_server.url}/console/activities/{activity.pk}/signup/registrations/")
    expect(desk.locator("#count-checked-in")).to_have_text("1")
    expect(desk.locator("#signup-registrations")).to_contain_text("林*")
    expect(desk.locator("#signup-registrations")).not_to_contain_text("林候补")
    shot(desk, "activity-signup-console-registrations")
    # Frank's phone shows he is checked in.
    phone.goto(f"{live_server.url}/a/{activity.pk}/signup/ticket/")
    expect(phone.locator("#ticket-checked")).to_contain_text(re.compile(r"已于 .* 签到"))
