"""The platform's error pages in a real browser, at phone and desktop widths (screenshots)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import RequestFactory
from django.views import defaults
from playwright.sync_api import Browser, expect

from gonghui.console.tests.test_browser_console import WIDTHS, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", list(WIDTHS))
def test_error_pages_look_like_the_platform(live_server: Any, browser: Browser, width: str) -> None:
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **WIDTHS[width])
    page = context.new_page()

    response = page.goto(f"{live_server.url}/no-such-page/")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="页面不存在")).to_be_visible()
    expect(page).to_have_title("页面不存在 · 智慧工会")
    shot(page, f"error-404-{width}")
    page.get_by_role("link", name="返回首页").click()
    expect(page).to_have_url(f"{live_server.url}/")

    page.set_content(defaults.server_error(RequestFactory().get("/")).content.decode())
    expect(page.get_by_role("heading", name="服务暂时不可用")).to_be_visible()
    shot(page, f"error-500-{width}")
    context.close()
