"""Logging in with a login name or mobile and a password; logging out."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.urls import reverse

from gonghui.core.models import User
from gonghui.members.models import Member

LOGIN = reverse("portal:login")
PASSWORD = "correct-horse-battery"


def password_login(client: Client, username: str, password: str = PASSWORD) -> Any:
    return client.post(LOGIN, {"tab": "password", "username": username, "password": password})


def test_member_logs_in_with_mobile_and_password(client: Client, frank: Member) -> None:
    response = password_login(client, "139 0000 0006")

    assert response.status_code == 302
    assert response["Location"] == reverse("portal:union_home", kwargs={"org_id": frank.org_id})


def test_cadre_logs_in_with_login_name_and_sees_the_console_link(client: Client, dave: User) -> None:
    response = password_login(client, "dave")
    assert response.status_code == 302

    page = client.get(response["Location"], follow=True)

    assert 'href="/console/"' in page.content.decode()


def test_member_sees_no_console_link(client: Client, frank: Member) -> None:
    password_login(client, "13900000006")

    page = client.get(reverse("portal:me"))

    assert 'href="/console/"' not in page.content.decode()


def test_wrong_password_is_rejected(client: Client, frank: Member) -> None:
    response = password_login(client, "13900000006", "not-the-password")

    assert response.status_code == 400
    assert "登录名或密码错误" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_too_many_failures_lock_even_the_right_password(client: Client, frank: Member, settings: Any) -> None:
    for _ in range(settings.LOGIN_MAX_FAILURES):
        password_login(client, "13900000006", "not-the-password")

    response = password_login(client, "13900000006")

    assert response.status_code == 400
    assert "登录失败次数过多" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_success_clears_earlier_failures(client: Client, frank: Member, settings: Any) -> None:
    for _ in range(settings.LOGIN_MAX_FAILURES - 1):
        password_login(client, "13900000006", "not-the-password")
    assert password_login(client, "13900000006").status_code == 302
    client.post(reverse("portal:logout"))

    password_login(client, "13900000006", "not-the-password")
    assert password_login(client, "13900000006").status_code == 302


def test_inactive_account_cannot_log_in(client: Client, frank: Member) -> None:
    User.objects.filter(pk=frank.user_id).update(is_active=False)

    assert password_login(client, "13900000006").status_code == 400


def test_logout_is_a_post(client: Client, frank: Member) -> None:
    password_login(client, "13900000006")

    assert client.get(reverse("portal:logout")).status_code == 405
    response = client.post(reverse("portal:logout"))

    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


def test_login_page_offers_both_ways(client: Client, tree: Any) -> None:
    sms = client.get(LOGIN).content.decode()
    password = client.get(LOGIN, {"tab": "password"}).content.decode()

    assert "获取验证码" in sms
    assert 'name="code"' in sms
    assert 'type="password"' in password


def test_a_logged_in_member_visiting_login_goes_home(client: Client, frank: Member) -> None:
    password_login(client, "13900000006")

    response = client.get(LOGIN)

    assert response.status_code == 302
