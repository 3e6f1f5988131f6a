"""The platform's own 404, 403 and 500 pages (gonghui/templates/), with DEBUG off as in tests."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.test import Client, RequestFactory
from django.views import defaults


def test_debug_is_off_so_the_real_handlers_answer() -> None:
    assert settings.DEBUG is False


def test_an_unknown_url_gets_the_branded_404(client: Client, db: Any) -> None:
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    body = response.content.decode()
    assert '<html lang="zh-hans">' in body
    assert "页面不存在" in body and "智慧工会" in body
    assert '<a class="btn btn-primary" href="/">返回首页</a>' in body
    assert "Not Found" not in body


def test_an_unknown_console_url_offers_the_way_back_to_the_console(client: Client, db: Any) -> None:
    body = client.get("/console/no-such-page/").content.decode()

    assert "页面不存在" in body
    assert 'href="/console/">回到管理后台' in body


def test_a_missing_union_page_in_the_portal_uses_the_branded_404(client: Client, tree: Any) -> None:
    response = client.get("/u/999999/")

    assert response.status_code == 404
    assert "页面不存在" in response.content.decode()


def test_the_500_page_renders_without_request_or_database() -> None:
    # No ``db`` fixture: pytest-django makes any database access in here an error.
    request = RequestFactory().get("/boom/")

    response = defaults.server_error(request)

    assert response.status_code == 500
    body = response.content.decode()
    assert "服务暂时不可用" in body and "智慧工会" in body
    assert 'href="/"' in body
    assert "<style>" in body  # styles inline: no static file server needed


def test_the_403_page(db: Any) -> None:
    request = RequestFactory().get("/somewhere/")
    request.user = AnonymousUser()

    response = defaults.permission_denied(request, PermissionDenied("secret detail"))

    assert response.status_code == 403
    body = response.content.decode()
    assert "无权访问" in body
    assert "secret detail" not in body
