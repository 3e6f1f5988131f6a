"""积分商城 in a real browser: a member with points redeems a pickup item on a phone and
sees the pickup code; a cadre on the fulfilment page confirms the pickup by that code; the
member's order then reads 已领取 and the points statement shows the spend.

Screenshots go to docs/screenshots/mall-*.png.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image, ImageDraw
from playwright.sync_api import Browser, expect

from gonghui.conftest import Tree
from gonghui.console.tests.test_browser_branding import serve_media
from gonghui.core.models import AuditEvent, User
from gonghui.mall import actions
from gonghui.mall.models import GoodsKind, Order, OrderStatus
from gonghui.mall.tests.conftest import make_goods, verify
from gonghui.members.models import Member
from gonghui.points import ledger
from gonghui.testing.browser import DESKTOP, PHONE, console_login, session_context, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def media_root(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)


def picture(colour: str, name: str) -> SimpleUploadedFile:
    image = Image.new("RGB", (600, 600), "#ffffff")
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((190, 110, 410, 520), radius=40, fill=colour)
    draw.rectangle((210, 80, 390, 130), fill="#333333")
    draw.ellipse((255, 250, 345, 340), fill="#ffffff")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


def test_member_redeems_and_cadre_confirms_pickup(
    live_server: Any, browser: Browser, tree: Tree, bob: User, frank: Member, media_root: Path
) -> None:
    member = verify(frank)
    ledger.earn(member=member, amount=520, key="browser:signin-bonus", reason="连续签到奖励")
    cup = make_goods(
        bob,
        tree.tianhe,
        name="工会定制保温杯",
        price_points=300,
        stock=20,
        description="304 不锈钢内胆，500 毫升，印有工会标识。",
        pickup_place="天河区总工会一楼服务台（工作日 9:00–17:00）",
    )
    actions.add_images(actor=bob, goods=cup, uploads=[picture("#c8161d", "cup.png")])
    make_goods(bob, tree.tianhe, name="电影兑换码", kind=GoodsKind.VIRTUAL, pickup_place="", on_sale=False)
    make_goods(bob, tree.tianhe, name="夏日防晒伞", price_points=180, stock=5, pickup_place="天河区总工会一楼服务台")

    # --- the member, on a phone ----------------------------------------------------------
    assert member.user is not None
    phone_context = session_context(browser, member.user, live_server.url, **PHONE)
    serve_media(phone_context, media_root)
    phone = phone_context.new_page()
    phone.goto(f"{live_server.url}/me/points/")
    phone.get_by_role("link", name="积分商城").click()
    expect(phone.get_by_role("heading", name="积分商城")).to_be_visible()
    expect(phone.locator("#mall-balance")).to_have_text("520")
    expect(phone.locator("#goods-list li")).to_have_count(2)
    shot(phone, "mall-phone-home")

    phone.get_by_role("link", name=re.compile("工会定制保温杯")).click()
    expect(phone.locator("#goods-price")).to_have_text("300 积分")
    expect(phone.locator("#my-balance")).to_have_text("520")
    shot(phone, "mall-phone-goods")
    phone.get_by_role("link", name="立即兑换").click()
    expect(phone.get_by_role("heading", name="确认兑换")).to_be_visible()
    shot(phone, "mall-phone-confirm")
    phone.get_by_role("button", name="确认兑换").click()

    expect(phone.locator("#order-status")).to_have_text("待领取")
    expect(phone.get_by_text("兑换成功，已扣除 300 积分。")).to_be_visible()
    code = phone.locator("#pickup-code").inner_text().strip()
    assert re.fullmatch(r"\d{8}", code)
    expect(phone.locator("#pickup-qr")).to_be_visible()
    order = Order.objects.get()
    assert order.pickup_code == code and ledger.balance_of(member) == 220
    shot(phone, "mall-phone-pickup-code")

    # --- the cadre, on the fulfilment page ----------------------------------------------
    desk = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **DESKTOP).new_page()
    console_login(desk, live_server.url, "bob", "correct-horse-battery", bob)
    desk.get_by_role("navigation", name="管理导航").get_by_role("link", name="兑换订单").click()
    expect(desk.get_by_role("heading", name="兑换订单", level=1)).to_be_visible()
    expect(desk.locator("#orders-table")).to_contain_text(order.number)
    expect(desk.locator("#orders-table")).not_to_contain_text(code)  # the code is the member's secret
    desk.get_by_label(re.compile("取货码")).fill(code)
    desk.get_by_role("button", name="确认领取").click()
    expect(desk.get_by_text(re.compile(r"已确认领取：工会定制保温杯 ×1，会员 范克"))).to_be_visible()
    expect(desk.locator("#orders-table [data-status='picked_up']")).to_have_count(1)
    shot(desk, "mall-console-fulfil")
    # The same code a second time is refused clearly.
    desk.get_by_label(re.compile("取货码")).fill(code)
    desk.get_by_role("button", name="确认领取").click()
    expect(desk.get_by_text("订单已领取，不能再次领取。")).to_be_visible()
    assert AuditEvent.objects.filter(action="mall.pickup", actor=bob).count() == 1

    desk.goto(f"{live_server.url}/console/mall/goods/{cup.pk}/")
    expect(desk.locator("#goods-sold")).to_have_text("1")
    shot(desk, "mall-console-goods")
    desk.goto(f"{live_server.url}/console/mall/goods/new/")
    shot(desk, "mall-console-goods-new")
    desk.goto(f"{live_server.url}/console/mall/report/")
    expect(desk.locator("#total-points")).to_have_text("300")
    desk.wait_for_function("document.querySelector('#chart-goods canvas') !== null")
    shot(desk, "mall-console-report")

    # --- the member sees it picked up, and the spend in the statement -------------------
    phone.reload()
    expect(phone.locator("#order-status")).to_have_text("已领取")
    expect(phone.locator("#pickup-code")).to_have_count(0)
    phone.goto(f"{live_server.url}/me/mall/orders/")
    expect(phone.locator("#order-list")).to_contain_text("已领取")
    shot(phone, "mall-phone-orders")
    phone.goto(f"{live_server.url}/me/points/")
    spend = phone.locator("#statement li[data-kind='spend']")
    expect(spend).to_contain_text("兑换：工会定制保温杯")
    expect(spend).to_contain_text("−300")
    expect(phone.locator("#points-balance")).to_have_text("220")
    shot(phone, "mall-phone-statement")
    order.refresh_from_db()
    assert order.status == OrderStatus.PICKED_UP
