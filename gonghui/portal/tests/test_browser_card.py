"""电子会员卡 in a real phone-sized browser: the live QR, and /card/verify by a cadre.

The token is read from the QR element's ``data-token`` (what a scanner would decode) and
pasted into /card/verify: valid at first, expired once the TTL has passed, left once the
member has left.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from gonghui.conftest import Tree
from gonghui.core.models import AuditEvent, User
from gonghui.members.models import Member, MemberStatus
from gonghui.orgs import actions as org_actions
from gonghui.testing.browser import PHONE, session_context, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def verify_in(page: Page, live_server: Any, token: str) -> str:
    page.goto(f"{live_server.url}/card/verify/")
    page.get_by_label("二维码内容").fill(token)
    page.get_by_role("button", name="核验", exact=True).click()
    result = page.locator(".verify-result")
    expect(result).to_be_visible()
    return str(result.get_attribute("data-result"))


def test_member_shows_the_card_and_a_cadre_verifies_it(
    live_server: Any, browser: Browser, tree: Tree, frank: Member, dave: User, settings: Any
) -> None:
    org_actions.update_org(actor=None, org=tree.tianhe_union, values={"short_name": "软件园工会"})
    assert frank.user is not None
    member = session_context(browser, frank.user, live_server.url, **PHONE).new_page()
    errors: list[str] = []
    member.on("pageerror", lambda exc: errors.append(str(exc)))

    member.goto(f"{live_server.url}/me/")
    member.get_by_role("link", name=re.compile("电子会员卡")).click()
    expect(member).to_have_url(re.compile(r"/me/card/$"))
    expect(member.get_by_role("heading", name="范克")).to_be_visible()
    qr = member.locator("#card-qr")
    expect(qr).to_be_visible()
    expect(member.get_by_role("img", name="会员卡动态二维码")).to_be_visible()
    expect(member.locator("[data-countdown]")).to_contain_text(re.compile(r"\d+ 秒后失效"))
    box = qr.bounding_box()
    assert box is not None and box["width"] >= 200  # big enough to scan from a phone screen
    token = str(qr.get_attribute("data-token"))
    assert token.count(":") == 2
    frank.refresh_from_db()
    assert frank.card_number is not None
    expect(member.locator(".member-card-number")).to_have_text(frank.card_number)
    shot(member, "portal-card")

    # 立即刷新 swaps in a new QR through htmx: a screenshot of the old one soon dies.
    member.get_by_role("button", name="立即刷新").click()
    expect(member.locator("#card-qr")).not_to_have_attribute("data-token", token)

    cadre = session_context(browser, dave, live_server.url, **PHONE).new_page()
    cadre.on("pageerror", lambda exc: errors.append(str(exc)))
    assert verify_in(cadre, live_server, token) == "valid"
    expect(cadre.locator(".verify-state")).to_contain_text("有效")
    expect(cadre.locator(".verify-fields")).to_contain_text("范*")
    expect(cadre.locator(".verify-fields")).not_to_contain_text(frank.id_number_masked)
    shot(cadre, "portal-card-verify")

    settings.MEMBER_CARD_TOKEN_TTL_SECONDS = 1
    time.sleep(2.1)
    assert verify_in(cadre, live_server, token) == "expired"
    expect(cadre.locator(".verify-state")).to_contain_text("已过期")

    settings.MEMBER_CARD_TOKEN_TTL_SECONDS = 60
    Member.objects.filter(pk=frank.pk).update(status=MemberStatus.LEFT, left_at=timezone.now())
    assert verify_in(cadre, live_server, token) == "left"
    expect(cadre.locator(".verify-state")).to_contain_text("已退会")

    results = list(AuditEvent.objects.filter(action="card.verify").order_by("id").values_list("details", flat=True))
    assert [r["result"] for r in results] == ["valid", "expired", "left"]

    member.goto(f"{live_server.url}/me/card/")
    expect(member.get_by_role("heading", name="会员卡已失效")).to_be_visible()
    assert errors == []


def test_retained_card_refreshes_itself_and_prints(
    live_server: Any, browser: Browser, tree: Tree, frank: Member, settings: Any
) -> None:
    Member.objects.filter(pk=frank.pk).update(status=MemberStatus.RETAINED, retain_reason="retired")
    settings.MEMBER_CARD_TOKEN_TTL_SECONDS = 8  # the page then asks for a new QR every 3 s
    assert frank.user is not None
    page = session_context(browser, frank.user, live_server.url, **PHONE).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    page.goto(f"{live_server.url}/me/card/")
    expect(page.locator(".member-card-ribbon")).to_have_text("保留会籍")
    first = page.locator("#card-qr").get_attribute("data-token")
    expect(page.locator("#card-qr")).not_to_have_attribute("data-token", str(first), timeout=6000)
    assert errors == []
    shot(page, "portal-card-retained")

    page.get_by_role("link", name=re.compile("打印")).click()
    expect(page.get_by_role("button", name="保存为PDF/打印")).to_be_visible()
    card = page.locator(".print-card")
    box = card.bounding_box()
    assert box is not None
    assert abs(box["width"] / box["height"] - 85.6 / 54) < 0.02  # credit-card proportions
    assert page.locator(".print-card [data-token]").count() == 0
    shot(page, "portal-card-print")

    # 保存为PDF: the @page rule makes one credit-card-sized page (85.6 × 54 mm).
    pdf = page.pdf(prefer_css_page_size=True, print_background=True)
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1
    box_match = re.search(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)", pdf)
    assert box_match is not None
    width_mm, height_mm = (float(v) * 25.4 / 72 for v in box_match.groups())
    assert abs(width_mm - 85.6) < 1 and abs(height_mm - 54) < 1
