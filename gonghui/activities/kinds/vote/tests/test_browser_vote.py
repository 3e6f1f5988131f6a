"""A vote end to end in real browsers: bob (Tianhe district) creates a public-choice vote
in the console, sets it to show a live ranking, adds candidates with photos and
publishes it; Frank votes on his phone and sees the ranking; bob's console shows the
result chart. Then a secret ballot: Frank's receipt, and after the close the published
list where he finds it.

Uploaded photos live under MEDIA_ROOT (served by Django only in DEBUG): the browser gets
them through a route reading the same folder, as the reverse proxy does in production.
"""

from __future__ import annotations

import mimetypes
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone
from PIL import Image, ImageDraw, ImageFont
from playwright.sync_api import Browser, BrowserContext, Route, expect

from gonghui.activities import actions as activity_actions
from gonghui.activities.kinds.vote.models import Ballot, Candidate
from gonghui.activities.kinds.vote.selectors import TALLY_SECONDS
from gonghui.activities.kinds.vote.tests.conftest import make_vote
from gonghui.activities.models import Activity, ActivityStatus
from gonghui.conftest import Tree
from gonghui.core.models import User
from gonghui.members.models import Member
from gonghui.testing.browser import DESKTOP, PHONE, console_login, session_context, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CJK_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc")
PEOPLE = (
    ("王红", "#c8161d", "扎根一线十二年的快递站长，带出 30 名骨干。"),
    ("李明", "#1552c6", "网约车司机，三次见义勇为。"),
    ("陈静", "#0e7a4d", "社区护工，照护 40 位独居老人。"),
)


def serve_media(context: BrowserContext, root: Path) -> None:
    def handle(route: Route) -> None:
        name = route.request.url.split(settings.MEDIA_URL, 1)[1].split("?", 1)[0]
        path = (root / name).resolve()
        if not path.is_file() or root.resolve() not in path.parents:
            route.fulfill(status=404)
            return
        route.fulfill(status=200, body=path.read_bytes(), content_type=mimetypes.guess_type(path.name)[0] or "")

    context.route(re.compile(r".*/media/.*"), handle)


def portrait(path: Path, letter: str, colour: str) -> Path:
    image = Image.new("RGB", (240, 240), colour)
    draw = ImageDraw.Draw(image)
    draw.ellipse((70, 40, 170, 140), fill="#ffffff")
    draw.rectangle((50, 150, 190, 240), fill="#ffffff")
    if CJK_FONT.exists():
        draw.text((120, 195), letter, font=ImageFont.truetype(str(CJK_FONT), 56), fill=colour, anchor="mm")
    image.save(path, format="PNG")
    return path


def local(value: Any) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%dT%H:%M")


def test_organiser_publishes_a_vote_and_a_member_votes_on_a_phone(
    live_server: Any, browser: Browser, tree: Tree, bob: User, frank: Member, settings: Any, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    media = Path(settings.MEDIA_ROOT)

    # --- the organiser, at a desktop ---------------------------------------------------
    desk_context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **DESKTOP)
    serve_media(desk_context, media)
    desk = desk_context.new_page()
    desk.on("dialog", lambda dialog: dialog.accept())
    console_login(desk, live_server.url, "bob", "correct-horse-battery", bob)
    desk.goto(f"{live_server.url}/console/activities/new/?org={tree.tianhe.pk}")
    desk.locator("label.radio-card", has_text="投票").click()
    desk.get_by_label("标题").fill("2026 年天河区“最美职工”评选")
    now = timezone.now()
    desk.get_by_label("开始时间").fill(local(now - timedelta(minutes=5)))
    desk.get_by_label("结束时间").fill(local(now + timedelta(days=7)))
    desk.get_by_role("button", name="保存草稿").click()
    expect(desk).to_have_url(re.compile(r"/console/activities/\d+/edit/$"))
    activity = Activity.objects.get(title__contains="最美职工")
    desk.get_by_label("每日票数").fill("3")
    desk.get_by_label("结果公布").select_option("live")
    desk.get_by_role("button", name=re.compile("保存")).last.click()
    expect(desk).to_have_url(re.compile(rf"/console/activities/{activity.pk}/$"))
    activity.refresh_from_db()
    assert activity.settings["daily_allowance"] == 3 and activity.settings["results_visibility"] == "live"

    desk.get_by_role("link", name="候选人设置").click()
    expect(desk.get_by_role("heading", name="候选人设置")).to_be_visible()
    for name, colour, text in PEOPLE:
        desk.get_by_label("候选人/选项名称").fill(name)
        desk.get_by_label("介绍").fill(text)
        desk.get_by_label("照片").set_input_files(str(portrait(tmp_path / f"{colour[1:]}.png", name[0], colour)))
        desk.get_by_role("button", name="添加候选人").last.click()
        expect(desk.locator("#vote-candidates")).to_contain_text(name)
    # The last one should be first: move it up twice.
    chen = Candidate.objects.get(activity=activity, name="陈静")
    for _ in range(2):
        desk.locator(f"#candidate-{chen.pk}").get_by_role("button", name="上移 陈静").click()
    expect(desk.locator("#vote-candidates tbody tr").first).to_contain_text("陈静")
    shot(desk, "activity-vote-console-candidates")
    desk.get_by_role("link", name=activity.title).first.click()
    desk.get_by_role("button", name="发布", exact=True).click()
    expect(desk.get_by_text("进行中").first).to_be_visible()
    activity.refresh_from_db()
    assert activity.status == ActivityStatus.PUBLISHED

    # --- the member, on a phone ------------------------------------------------------------
    assert frank.user is not None
    phone_context = session_context(browser, frank.user, live_server.url, **PHONE)
    serve_media(phone_context, media)
    phone = phone_context.new_page()
    phone.goto(f"{live_server.url}/a/{activity.pk}/")
    expect(phone.locator("#eligibility")).to_have_attribute("data-code", "OK")
    expect(phone.locator("#vote-candidates li").first).to_contain_text("陈静")
    submit = phone.locator("#vote-submit")
    expect(submit).to_be_disabled()
    phone.locator(".vote-option", has_text="李明").click()
    expect(submit).to_be_enabled()
    shot(phone, "activity-vote-portal-ballot")
    submit.click()
    expect(phone.get_by_text("投票成功！今天还可以投 2 票。")).to_be_visible()
    expect(phone.locator("#vote-done")).to_contain_text("已投票")
    # Today's candidate is locked; the live ranking (tallies are cached for a few seconds,
    # selectors.TALLY_SECONDS) puts 李明 first with 1 vote once the cached count expires.
    expect(phone.locator(".vote-option", has_text="李明").locator("input")).to_be_disabled()
    phone.wait_for_timeout(TALLY_SECONDS * 1000 + 500)
    phone.reload()
    expect(phone.locator("#vote-candidates li").first).to_contain_text("李明")
    expect(phone.locator("#vote-summary")).to_contain_text("1 人参与，共 1 张选票")
    shot(phone, "activity-vote-portal-voted")
    assert Ballot.objects.filter(activity=activity, member=frank).count() == 1

    # --- results in the console --------------------------------------------------------------
    desk.reload()
    expect(desk.locator("#vote-tally tbody tr").first).to_contain_text("李明")
    expect(desk.locator("#vote-chart canvas")).to_have_count(1)
    expect(desk.locator("#vote-participants")).to_have_text("1")
    shot(desk, "activity-vote-console-results")


def test_a_secret_ballot_gives_a_receipt_found_on_the_published_list(
    live_server: Any, browser: Browser, tree: Tree, bob: User, frank: Member
) -> None:
    vote = make_vote(tree.tianhe, actor=bob, title="天河区总工会委员会选举（无记名）", secret=True)
    assert frank.user is not None
    phone = session_context(browser, frank.user, live_server.url, **PHONE).new_page()
    phone.goto(f"{live_server.url}/a/{vote.pk}/")
    expect(phone.locator(".vote-rules")).to_contain_text("无记名投票")
    phone.locator(".vote-option").nth(1).click()
    phone.get_by_role("button", name="投出无记名选票").click()
    receipt = phone.locator("#vote-receipt")
    expect(receipt).to_have_text(re.compile(r"^[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}$"))
    code = receipt.inner_text()
    shot(phone, "activity-vote-portal-receipt")
    phone.get_by_role("link", name="返回活动").click()
    expect(phone.locator("#vote-done")).to_contain_text("已投票")
    expect(phone.locator("body")).not_to_contain_text(code)

    activity_actions.close_activity(actor=bob, activity=vote)
    phone.goto(f"{live_server.url}/a/{vote.pk}/vote/receipts/")
    phone.get_by_label("回执码", exact=True).fill(code.lower().replace("-", ""))
    phone.get_by_role("button", name="核对").click()
    expect(phone.locator("#receipt-result")).to_contain_text("在名单中，已计入")
    expect(phone.locator("#receipt-list")).to_contain_text(code)
    shot(phone, "activity-vote-portal-receipts")
