"""Logging in to the portal with a mobile number and an SMS code."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from gonghui.core.models import SmsMessage
from gonghui.members.models import Member
from gonghui.portal.tests.helpers import latest_code

LOGIN = reverse("portal:login")
SEND = reverse("portal:send_code")
FRANK_MOBILE = "13900000006"


def send(client: Client, mobile: str, **headers: Any) -> Any:
    return client.post(SEND, {"mobile": mobile}, **headers)


def sms_login(client: Client, mobile: str, code: str, **extra: str) -> Any:
    return client.post(LOGIN, {"tab": "sms", "mobile": mobile, "code": code, **extra})


def test_member_logs_in_with_the_code_from_the_sms(client: Client, frank: Member) -> None:
    response = send(client, FRANK_MOBILE)
    assert response.status_code == 200
    assert "验证码已发送至 139****0006" in response.content.decode()

    response = sms_login(client, FRANK_MOBILE, latest_code(FRANK_MOBILE))

    assert response.status_code == 302
    assert response["Location"] == reverse("portal:union_home", kwargs={"org_id": frank.org_id})
    assert client.session["_auth_user_id"] == str(frank.user_id)


def test_mobile_is_normalised_before_sending_and_checking(client: Client, frank: Member) -> None:
    send(client, "+86 139 0000 0006")
    assert SmsMessage.objects.filter(mobile=FRANK_MOBILE).count() == 1

    response = sms_login(client, "139-0000-0006", latest_code(FRANK_MOBILE))

    assert response.status_code == 302


def test_wrong_code_is_rejected(client: Client, frank: Member) -> None:
    send(client, FRANK_MOBILE)
    right = latest_code(FRANK_MOBILE)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"

    response = sms_login(client, FRANK_MOBILE, wrong)

    assert response.status_code == 400
    assert "验证码错误或已过期" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_code_works_only_once(client: Client, frank: Member) -> None:
    send(client, FRANK_MOBILE)
    code = latest_code(FRANK_MOBILE)
    assert sms_login(client, FRANK_MOBILE, code).status_code == 302
    client.post(reverse("portal:logout"))

    response = sms_login(client, FRANK_MOBILE, code)

    assert response.status_code == 400
    assert "_auth_user_id" not in client.session


def test_unregistered_mobile_is_told_to_join_first_and_gets_no_sms(client: Client, tree: Any) -> None:
    response = send(client, "13712345678")

    assert "尚未注册会员账号" in response.content.decode()
    assert not SmsMessage.objects.filter(mobile="13712345678").exists()

    response = sms_login(client, "13712345678", "123456")
    assert response.status_code == 400
    assert "尚未注册会员账号" in response.content.decode()


def test_invalid_mobile_gets_a_field_message(client: Client, tree: Any) -> None:
    response = send(client, "12345")

    assert "请输入正确的 11 位手机号" in response.content.decode()
    assert not SmsMessage.objects.exists()


def test_gateway_throttling_is_shown(client: Client, frank: Member) -> None:
    send(client, FRANK_MOBILE)

    response = send(client, FRANK_MOBILE)

    assert "验证码发送过于频繁" in response.content.decode()


def test_repeated_wrong_codes_lock_the_mobile(client: Client, frank: Member, settings: Any) -> None:
    send(client, FRANK_MOBILE)
    code = latest_code(FRANK_MOBILE)
    for _ in range(settings.LOGIN_MAX_FAILURES):
        sms_login(client, FRANK_MOBILE, "000000" if code != "000000" else "111111")

    response = sms_login(client, FRANK_MOBILE, code)

    assert response.status_code == 400
    assert "登录失败次数过多" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_send_code_without_javascript_redisplays_the_form(client: Client, frank: Member) -> None:
    response = client.post(LOGIN, {"tab": "sms", "action": "send_code", "mobile": FRANK_MOBILE})

    body = response.content.decode()
    assert response.status_code == 200
    assert "验证码已发送" in body
    assert f'value="{FRANK_MOBILE}"' in body
    assert SmsMessage.objects.filter(mobile=FRANK_MOBILE, status=SmsMessage.Status.SENT).count() == 1


def test_htmx_send_answers_with_the_feedback_fragment_only(client: Client, frank: Member) -> None:
    response = send(client, FRANK_MOBILE, HTTP_HX_REQUEST="true")

    body = response.content.decode()
    assert "<html" not in body
    assert 'data-cooldown="60"' in body


def test_send_code_needs_post(client: Client) -> None:
    assert client.get(SEND).status_code == 405


def test_login_honours_a_local_next_and_ignores_a_foreign_one(client: Client, frank: Member) -> None:
    send(client, FRANK_MOBILE)
    response = sms_login(client, FRANK_MOBILE, latest_code(FRANK_MOBILE), next="/me/")
    assert response["Location"] == "/me/"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x"])
def test_login_ignores_a_foreign_next(client: Client, frank: Member, target: str) -> None:
    response = client.post(
        LOGIN, {"tab": "password", "username": FRANK_MOBILE, "password": "correct-horse-battery", "next": target}
    )
    assert response["Location"] == reverse("portal:union_home", kwargs={"org_id": frank.org_id})


def test_login_form_has_csrf_protection(frank: Member) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post(LOGIN, {"tab": "password", "username": FRANK_MOBILE, "password": "correct-horse-battery"})
    assert response.status_code == 403
