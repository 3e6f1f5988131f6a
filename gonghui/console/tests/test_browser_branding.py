"""门户形象 and 重置动态口令 in a real browser, at phone and desktop widths (with screenshots).

Uploaded images live under MEDIA_ROOT, which Django serves only in DEBUG; the browser
gets them through a route that reads the same folder, as the reverse proxy does in
production.
"""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from PIL import Image, ImageDraw, ImageFont
from playwright.sync_api import Browser, BrowserContext, Route, expect

from gonghui.conftest import Tree
from gonghui.console.tests.test_browser_console import WIDTHS, go_to, shot
from gonghui.core.access import RoleKind
from gonghui.core.models import AuditEvent, User
from gonghui.orgs import actions as org_actions
from gonghui.orgs.models import Org
from gonghui.testing.browser import console_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CJK_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc")


@pytest.fixture
def media_root(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)


def serve_media(context: BrowserContext, root: Path) -> None:
    def handle(route: Route) -> None:
        name = route.request.url.split(settings.MEDIA_URL, 1)[1].split("?", 1)[0]
        path = (root / name).resolve()
        if not path.is_file() or root.resolve() not in path.parents:
            route.fulfill(status=404)
            return
        route.fulfill(status=200, body=path.read_bytes(), content_type=mimetypes.guess_type(path.name)[0] or "")

    context.route(re.compile(r".*/media/.*"), handle)


def make_logo(path: Path) -> Path:
    image = Image.new("RGB", (320, 320), "#ffffff")
    draw = ImageDraw.Draw(image)
    draw.ellipse((20, 20, 300, 300), fill="#0b6e74")
    draw.ellipse((48, 48, 272, 272), outline="#ffffff", width=10)
    if CJK_FONT.exists():
        font = ImageFont.truetype(str(CJK_FONT), 150)
        draw.text((160, 150), "软", font=font, fill="#ffffff", anchor="mm")
    image.save(path, format="PNG")
    return path


def make_banner(path: Path) -> Path:
    width, height = 1200, 400
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for x in range(width):  # a teal-to-blue gradient with a skyline, like a workplace photo would be
        t = x / width
        draw.line([(x, 0), (x, height)], fill=(int(11 + 10 * t), int(110 - 28 * t), int(116 + 82 * t)))
    for i, h in enumerate((180, 260, 220, 300, 240, 200, 280, 160, 230)):
        left = 60 + i * 125
        draw.rectangle((left, height - h, left + 90, height), fill=(255, 255, 255, 0), outline="#d7f2f0", width=3)
        for row in range(height - h + 20, height - 20, 36):
            draw.rectangle((left + 18, row, left + 36, row + 16), fill="#9fd9d4")
            draw.rectangle((left + 54, row, left + 72, row + 16), fill="#9fd9d4")
    image.save(path, format="JPEG", quality=85)
    return path


@pytest.mark.parametrize("width", list(WIDTHS))
def test_union_branding_with_live_preview(
    live_server: Any, browser: Browser, tree: Tree, bob: User, media_root: Path, tmp_path: Path, width: str
) -> None:
    org_actions.update_org(
        actor=None,
        org=tree.tianhe_union,
        values={"short_name": "软件园工会", "intro": "天河软件园有限公司工会成立于 2008 年，现有会员 300 余人。"},
    )
    logo = make_logo(tmp_path / "logo.png")
    banner = make_banner(tmp_path / "banner.jpg")
    huge = tmp_path / "huge.png"
    huge.write_bytes(b"\x89PNG" + b"0" * (2 * 1024 * 1024 + 10))

    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **WIDTHS[width])
    serve_media(context, media_root)
    page = context.new_page()
    console_login(page, live_server.url, "bob", "correct-horse-battery", bob)

    page.goto(f"{live_server.url}/console/orgs/{tree.tianhe_union.pk}/")
    page.get_by_role("link", name="门户形象").click()
    expect(page.get_by_role("heading", level=1, name="门户形象")).to_be_visible()
    hero = page.locator("#pv-hero")
    expect(hero).to_contain_text("广州天河软件园有限公司工会")
    expect(page.locator("#pv-monogram")).to_have_text("软")
    shot(page, f"branding-empty-{width}")

    # --- the preview follows the form before anything is saved ---------------------------------
    page.get_by_role("button", name="选用青色 #0b6e74").click()
    assert hero.evaluate("el => el.style.getPropertyValue('--theme')") == "#0b6e74"
    expect(page.locator("#theme-color-value")).to_have_text("#0B6E74")
    page.get_by_label("标志", exact=True).set_input_files(str(logo))
    expect(page.locator("#pv-logo")).to_be_visible()
    expect(page.locator("#pv-monogram")).to_be_hidden()
    page.get_by_label("工会简介").fill("天河软件园有限公司工会成立于 2008 年。\n欢迎职工加入！")
    expect(page.locator("#pv-intro")).to_contain_text("欢迎职工加入")
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"<html>not an image</html>")
    page.get_by_label("横幅", exact=True).set_input_files(str(fake))
    expect(page.locator("[data-image=banner] [data-broken-warning]")).to_be_visible()
    expect(page.locator("#pv-banner")).to_be_hidden()
    page.get_by_label("横幅", exact=True).set_input_files(str(huge))
    expect(page.locator("[data-image=banner] [data-size-warning]")).to_be_visible()
    expect(page.locator("[data-image=banner] [data-broken-warning]")).to_be_hidden()
    expect(page.locator("#pv-art")).to_be_visible()
    shot(page, f"branding-live-{width}")

    # --- a file over 2 MB is refused by the server too, and nothing is saved ----------------------
    page.get_by_role("button", name="保存").click()
    expect(page.locator("#id_banner-error")).to_contain_text("横幅不能超过 2 MB")
    assert Org.objects.get(pk=tree.tianhe_union.pk).theme_color == "#c8161d"
    expect(page.locator("#id_theme_color")).to_have_value("#0b6e74")  # the choice survives the refusal
    shot(page, f"branding-error-{width}")

    # --- save logo + banner + colour ----------------------------------------------------------
    page.get_by_label("标志", exact=True).set_input_files(str(logo))
    page.get_by_label("横幅", exact=True).set_input_files(str(banner))
    page.get_by_role("button", name="保存").click()
    expect(page.locator(".flashes")).to_contain_text("已保存 广州天河软件园有限公司工会 的门户形象")
    org = Org.objects.get(pk=tree.tianhe_union.pk)
    assert org.logo and org.banner and org.theme_color == "#0b6e74"
    expect(page.locator("#pv-hero.has-image")).to_be_visible()
    assert page.locator("#pv-banner").evaluate("img => img.naturalWidth") == 1200
    assert page.locator("#pv-logo").evaluate("img => img.naturalWidth") == 320
    changed = AuditEvent.objects.filter(action="org.branding", actor=bob).order_by("id")
    assert [event.details["fields"] for event in changed] == [["logo"], ["banner"]]
    shot(page, f"branding-saved-{width}")

    # --- the portal shows what the preview showed -----------------------------------------------
    page.goto(f"{live_server.url}/u/{org.pk}/")
    expect(page.locator(".hero.has-image")).to_be_visible()
    assert page.locator(".hero-logo").evaluate("img => img.naturalWidth") == 320
    shot(page, f"branding-portal-{width}")

    # --- clear the logo: the monogram comes back ------------------------------------------------
    page.goto(f"{live_server.url}/console/orgs/{org.pk}/branding/")
    page.get_by_label("删除现有标志，改用名称首字").check()
    expect(page.locator("#pv-monogram")).to_be_visible()
    page.get_by_role("button", name="保存").click()
    expect(page.locator(".flashes")).to_contain_text("已保存")
    assert not Org.objects.get(pk=org.pk).logo
    context.close()


@pytest.mark.parametrize("width", list(WIDTHS))
def test_district_admin_resets_a_chairs_second_factor(
    live_server: Any, browser: Browser, tree: Tree, alice: User, bob: User, dave: User, width: str
) -> None:
    # Alice (province) also holds a role here: bob must not be offered to reset her.
    org_actions.grant_role(actor=None, user=alice, org=tree.tianhe_union, role=RoleKind.STAFF)
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **WIDTHS[width])
    page = context.new_page()
    console_login(page, live_server.url, "bob", "correct-horse-battery", bob)

    page.goto(f"{live_server.url}/console/orgs/{tree.tianhe_union.pk}/roles/")
    expect(page.get_by_role("heading", name="干部角色", level=1)).to_be_visible()
    expect(page.locator("summary", has_text="重置动态口令")).to_have_count(1)
    page.get_by_text("重置动态口令", exact=True).click()
    reason = page.get_by_label("重置原因")
    expect(reason).to_be_visible()
    reason.fill("手机丢失，本人电话确认")
    shot(page, f"roles-reset-{width}")
    page.get_by_role("button", name="确认重置").click()

    expect(page.get_by_role("status")).to_contain_text("已重置 戴夫 的动态口令和恢复码")
    expect(page.locator("tbody tr", has_text="戴夫")).to_contain_text("待绑定")
    event = AuditEvent.objects.get(action="auth.totp_reset")
    assert event.details["reason"] == "手机丢失，本人电话确认"
    shot(page, f"roles-reset-done-{width}")

    go_to(page, width, "审计日志")
    expect(page.locator("main")).to_contain_text("重置动态口令")
    context.close()
