"""Signing in: password or SMS code, then TOTP (or a recovery code); throttling; audit."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from gonghui.conftest import Tree
from gonghui.core.models import AuditEvent, SmsMessage, User
from gonghui.portal.tests.helpers import latest_code

LOGIN = "/console/login/"
PASSWORD = "correct-horse-battery"


def password_login(client: Client, username: str, password: str = PASSWORD, next_url: str = "") -> Any:
    data = {"tab": "password", "pw-username": username, "pw-password": password}
    if next_url:
        data["next"] = next_url
    return client.post(LOGIN, data)


def current_totp(user: User) -> str:
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    return f"{totp(device.bin_key):06d}"


def test_console_pages_send_anonymous_visitors_to_login(client: Client, bob: User) -> None:
    response = client.get("/console/members/?q=zs")
    assert response.status_code == 302
    assert response["Location"] == "/console/login/?next=%2Fconsole%2Fmembers%2F%3Fq%3Dzs"


def test_password_login_then_totp_opens_the_console(client: Client, bob: User) -> None:
    response = password_login(client, "bob", next_url="/console/members/")
    assert response.status_code == 302
    assert response["Location"] == "/console/otp/?next=%2Fconsole%2Fmembers%2F"

    # Logged in, but no console page opens before the second factor.
    assert client.get("/console/").status_code == 302
    assert client.get("/console/").headers["Location"].startswith("/console/otp/")

    response = client.post("/console/otp/?next=/console/members/", {"code": current_totp(bob)})
    assert response.status_code == 302
    assert response["Location"] == "/console/members/"
    assert client.get("/console/members/").status_code == 200

    login_event = AuditEvent.objects.get(action="auth.login")
    assert login_event.actor_id == bob.pk
    assert login_event.details["method"] == "password"
    assert AuditEvent.objects.filter(action="auth.otp_verified", actor=bob, details__method="totp").exists()


def test_login_by_mobile_number_with_password(client: Client, bob: User) -> None:
    response = password_login(client, "138 0000 0002")
    assert response.status_code == 302
    assert response["Location"].startswith("/console/otp/")


def test_wrong_password_is_refused_and_audited_with_masked_identifier(client: Client, bob: User) -> None:
    response = password_login(client, "13800000002", "wrong-password-1")
    assert response.status_code == 400
    assert "登录名或密码错误" in response.content.decode()
    event = AuditEvent.objects.get(action="auth.login_failed")
    assert event.actor_id is None
    assert event.details["identifier"] == "138****0002"
    assert "13800000002" not in str(event.details)


def test_sixth_attempt_after_five_failures_is_throttled_even_with_the_right_password(client: Client, bob: User) -> None:
    for _ in range(5):
        assert password_login(client, "bob", "wrong-password-1").status_code == 400
    response = password_login(client, "bob")
    assert response.status_code == 400
    assert "登录失败次数过多" in response.content.decode()
    assert "_auth_user_id" not in client.session
    # Throttled attempts are not audited: a locked-out attacker cannot flood the log.
    assert AuditEvent.objects.filter(action="auth.login_failed").count() == 5


def test_sms_code_login_through_the_sandbox_outbox(client: Client, bob: User) -> None:
    response = client.post("/console/login/code/", {"sms-mobile": "13800000002"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "138****0002" in response.content.decode()
    assert SmsMessage.objects.filter(mobile="13800000002", purpose="login").count() == 1

    response = client.post(LOGIN, {"tab": "sms", "sms-mobile": "13800000002", "sms-code": latest_code("13800000002")})
    assert response.status_code == 302
    assert response["Location"].startswith("/console/otp/")
    assert AuditEvent.objects.get(action="auth.login").details["method"] == "sms"


def test_send_code_without_javascript_redisplays_the_form(client: Client, bob: User) -> None:
    response = client.post(LOGIN, {"tab": "sms", "action": "send_code", "sms-mobile": "13800000002"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "验证码已发送至 138****0002" in body
    assert 'value="13800000002"' in body


def test_unknown_mobile_gets_the_same_answer_and_no_sms(client: Client, bob: User) -> None:
    response = client.post("/console/login/code/", {"sms-mobile": "13911112222"}, HTTP_HX_REQUEST="true")
    assert "139****2222" in response.content.decode()
    assert not SmsMessage.objects.filter(mobile="13911112222").exists()


def test_wrong_sms_code_is_refused(client: Client, bob: User) -> None:
    client.post("/console/login/code/", {"sms-mobile": "13800000002"}, HTTP_HX_REQUEST="true")
    code = latest_code("13800000002")
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    response = client.post(LOGIN, {"tab": "sms", "sms-mobile": "13800000002", "sms-code": wrong})
    assert response.status_code == 400
    assert "验证码错误或已过期" in response.content.decode()
    assert AuditEvent.objects.filter(action="auth.login_failed", details__method="sms").exists()


def test_wrong_totp_is_rejected(client: Client, bob: User) -> None:
    password_login(client, "bob")
    good = int(current_totp(bob))
    response = client.post("/console/otp/", {"code": f"{(good + 1) % 1_000_000:06d}"})
    assert response.status_code == 400
    assert "动态口令或恢复码不正确" in response.content.decode()
    assert client.get("/console/").status_code == 302
    assert AuditEvent.objects.filter(action="auth.otp_failed", actor=bob).exists()


def test_recovery_code_passes_the_second_factor_once(client: Client, bob: User) -> None:
    device = StaticDevice.objects.create(user=bob, name="恢复码", confirmed=True)
    StaticToken.objects.create(device=device, token="abcd2345")
    StaticToken.objects.create(device=device, token="wxyz6723")
    password_login(client, "bob")
    response = client.post("/console/otp/", {"code": "ABCD-2345"})
    assert response.status_code == 302
    assert client.get("/console/").status_code == 200
    assert list(StaticToken.objects.values_list("token", flat=True)) == ["wxyz6723"]
    assert AuditEvent.objects.get(action="auth.otp_verified").details == {
        "method": "recovery",
        "recovery_codes_left": 1,
    }

    other = Client()
    password_login(other, "bob")
    assert other.post("/console/otp/", {"code": "abcd-2345"}).status_code == 400


def test_cadre_without_device_enrolls_and_gets_ten_recovery_codes(client: Client, bob: User) -> None:
    TOTPDevice.objects.filter(user=bob).delete()
    response = password_login(client, "bob", next_url="/console/orgs/")
    assert response["Location"] == "/console/otp/setup/?next=%2Fconsole%2Forgs%2F"

    # A password session first proves the registered mobile (see test_enrollment_mobile.py).
    client.post("/console/otp/setup/?next=/console/orgs/", {"action": "send_code"})
    proved = client.post("/console/otp/setup/?next=/console/orgs/", {"code": latest_code("13800000002")})
    assert proved["Location"] == "/console/otp/setup/?next=%2Fconsole%2Forgs%2F"

    page = client.get(response["Location"])
    assert page.status_code == 200
    body = page.content.decode()
    assert "<svg" in body and "qr-svg" in body
    pending = TOTPDevice.objects.get(user=bob, confirmed=False)
    # Reloading keeps the same secret: the cadre may already have scanned it.
    client.get("/console/otp/setup/")
    assert TOTPDevice.objects.filter(user=bob).count() == 1

    wrong = client.post(
        "/console/otp/setup/?next=/console/orgs/", {"code": f"{(totp(pending.bin_key) + 1) % 10**6:06d}"}
    )
    assert wrong.status_code == 400
    assert "验证码不正确" in wrong.content.decode()

    pending.throttle_reset()
    response = client.post("/console/otp/setup/?next=/console/orgs/", {"code": f"{totp(pending.bin_key):06d}"})
    assert response.status_code == 302
    assert response["Location"] == reverse("console:recovery_codes")
    pending.refresh_from_db()
    assert pending.confirmed

    shown = client.get("/console/otp/recovery-codes/")
    assert shown.status_code == 200
    codes = shown.context["codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(code.replace("-", "") in set(StaticToken.objects.values_list("token", flat=True)) for code in codes)
    assert 'href="/console/orgs/"' in shown.content.decode()
    # Shown once only.
    again = client.get("/console/otp/recovery-codes/")
    assert again.status_code == 302
    assert AuditEvent.objects.filter(action="auth.totp_enrolled", actor=bob).count() == 1
    assert client.get("/console/orgs/").status_code == 200


def test_enrollment_is_refused_once_a_device_is_confirmed(client: Client, bob: User) -> None:
    password_login(client, "bob")
    response = client.get("/console/otp/setup/")
    assert response.status_code == 302
    assert response["Location"].startswith("/console/otp/")
    assert not TOTPDevice.objects.filter(user=bob, confirmed=False).exists()


def test_regenerating_recovery_codes_replaces_the_old_ones(bob: User) -> None:
    from gonghui.conftest import console_client

    client = console_client(bob)
    client.post("/console/otp/recovery-codes/new/")
    first = set(StaticToken.objects.values_list("token", flat=True))
    client.post("/console/otp/recovery-codes/new/")
    second = set(StaticToken.objects.values_list("token", flat=True))
    assert len(first) == len(second) == 10
    assert not first & second


def test_member_without_roles_sees_no_access_page(client: Client, frank: Any) -> None:
    response = password_login(client, "13900000006")
    assert response.status_code == 302
    page = client.get(response["Location"])
    assert page.status_code == 403
    assert "无权访问" in page.content.decode()
    assert client.get("/console/otp/").status_code == 403


def test_next_outside_the_console_is_ignored(client: Client, bob: User) -> None:
    response = password_login(client, "bob", next_url="https://evil.example/")
    assert response["Location"] == "/console/otp/"
    response = client.post("/console/otp/?next=//evil.example/", {"code": current_totp(bob)})
    assert response["Location"] == "/console/"


def test_logout_ends_the_session_and_is_audited(bob_client: Client, bob: User) -> None:
    response = bob_client.post("/console/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/console/login/"
    assert bob_client.get("/console/").status_code == 302
    assert AuditEvent.objects.filter(action="auth.logout", actor=bob).exists()


def test_logout_needs_post(bob_client: Client) -> None:
    assert bob_client.get("/console/logout/").status_code == 405


@pytest.mark.parametrize("url", ["/console/", "/console/orgs/", "/console/members/"])
def test_htmx_requests_of_an_expired_session_redirect_the_whole_page(client: Client, tree: Tree, url: str) -> None:
    response = client.get(url, HTTP_HX_REQUEST="true")
    assert response.headers["HX-Redirect"].startswith("/console/login/")
