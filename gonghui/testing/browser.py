"""What the browser tests (pytest-playwright) share: viewports, screenshots and signing in.

- ``PHONE`` and ``DESKTOP``: options for ``browser.new_context``.
- ``shot``: a full-height screenshot into docs/screenshots (or another folder).
- ``session_context``: a context already logged in as a user, through a test client's session.
- ``console_login``: the console's real sign-in pages, password then the TOTP code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Browser, BrowserContext, Page, expect

from gonghui.core.models import User

PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
DESKTOP: dict[str, Any] = {"viewport": {"width": 1366, "height": 900}}


def screenshots() -> Path:
    """docs/screenshots, where the README's pictures come from."""
    return Path(settings.BASE_DIR) / "docs" / "screenshots"


def shot(page: Page, name: str, *, folder: Path | None = None) -> None:
    """Save ``name``.png: the whole page as a tall screen of the same width shows it.

    A plain full-page capture leaves sticky and fixed bars where the first screen ended;
    growing the viewport instead puts them where they really sit. The viewport is restored.
    """
    folder = folder or screenshots()
    folder.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(400)  # let a flash message or an htmx swap finish settling
    viewport = page.viewport_size
    if viewport is None:
        raise ValueError("shot() needs a page with a fixed viewport")
    height = int(page.evaluate("document.documentElement.scrollHeight"))
    page.set_viewport_size({"width": viewport["width"], "height": max(height, viewport["height"])})
    page.screenshot(path=str(folder / f"{name}.png"))
    page.set_viewport_size(viewport)


def session_context(browser: Browser, user: User, base_url: str, **options: Any) -> BrowserContext:
    """A browser context carrying a session of ``user`` (made by the test client, no login pages)."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    context = browser.new_context(**{"locale": "zh-CN", "timezone_id": "Asia/Shanghai", **options})
    context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": base_url}])
    return context


def totp_code(user: User) -> str:
    """The current code of ``user``'s confirmed TOTP device, as the authenticator app shows it."""
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    return f"{totp(device.bin_key):06d}"


def console_login(page: Page, base_url: str, username: str, password: str, user: User) -> None:
    """Sign ``user`` in to the console through its pages: password, then the dynamic code."""
    page.goto(f"{base_url}/console/login/")
    page.get_by_label("登录名或手机号").fill(username)
    page.get_by_label("密码", exact=True).fill(password)
    page.get_by_role("button", name="登录", exact=True).first.click()
    page.get_by_label("动态口令或恢复码").fill(totp_code(user))
    page.get_by_role("button", name="验证并进入").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"您好，{user.name or user.username}")
