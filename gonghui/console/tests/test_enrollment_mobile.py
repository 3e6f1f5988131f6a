"""First TOTP enrolment needs the registered mobile, not only the password.

Whoever learnt a cadre's password must not be able to bind their own phone as the
cadre's second factor. A session that signed in by SMS code has already proved the
mobile; a password session gets a "验证手机" step before the QR code is shown.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from gonghui.conftest import Tree, make_cadre
from gonghui.core.access import RoleKind
from gonghui.core.models import AuditEvent, SmsMessage, User
from gonghui.portal.tests.helpers import latest_code

SETUP = "/console/otp/setup/"
BOB_MOBILE = "13800000002"


@pytest.fixture
def new_bob(bob: User) -> User:
    """Bob before his first sign-in: no second factor yet."""
    TOTPDevice.objects.filter(user=bob).delete()
    return bob


def password_login(client: Client, username: str = "bob") -> None:
    response = client.post(
        "/console/login/", {"tab": "password", "pw-username": username, "pw-password": "correct-horse-battery"}
    )
    assert response.status_code == 302


def test_password_session_must_verify_the_mobile_before_seeing_the_qr_code(client: Client, new_bob: User) -> None:
    password_login(client)

    page = client.get(SETUP)

    assert page.status_code == 200
    body = page.content.decode()
    assert "验证手机" in body
    assert "138****0002" in body and BOB_MOBILE not in body
    assert "qr-svg" not in body
    # No secret exists before the mobile is proved: nothing to leak.
    assert not TOTPDevice.objects.filter(user=new_bob).exists()


def test_the_code_goes_to_the_registered_mobile_and_unlocks_enrolment(client: Client, new_bob: User) -> None:
    password_login(client)

    sent = client.post(SETUP, {"action": "send_code"})
    assert sent.status_code == 200
    assert "验证码已发送至 138****0002" in sent.content.decode()
    assert SmsMessage.objects.filter(mobile=BOB_MOBILE, purpose="otp_enroll", status="sent").count() == 1

    response = client.post(f"{SETUP}?next=/console/members/", {"code": latest_code(BOB_MOBILE)})
    assert response.status_code == 302
    assert response["Location"] == "/console/otp/setup/?next=%2Fconsole%2Fmembers%2F"

    page = client.get(SETUP)
    assert "qr-svg" in page.content.decode()
    device = TOTPDevice.objects.get(user=new_bob, confirmed=False)
    done = client.post(SETUP, {"code": f"{totp(device.bin_key):06d}"})
    assert done.status_code == 302
    event = AuditEvent.objects.get(action="auth.totp_enrolled", actor=new_bob)
    assert event.details["mobile_proof"] == "sms_code"


def test_a_wrong_code_is_refused_and_the_qr_stays_hidden(client: Client, new_bob: User) -> None:
    password_login(client)
    client.post(SETUP, {"action": "send_code"})
    wrong = f"{(int(latest_code(BOB_MOBILE)) + 1) % 1_000_000:06d}"

    response = client.post(SETUP, {"code": wrong})

    assert response.status_code == 400
    body = response.content.decode()
    assert "验证码错误或已过期" in body
    assert "qr-svg" not in body
    assert not TOTPDevice.objects.filter(user=new_bob).exists()


def test_a_login_code_cannot_stand_in_for_the_enrolment_code(client: Client, new_bob: User) -> None:
    """Codes are bound to their purpose: a leftover login code proves nothing here."""
    client.post("/console/login/code/", {"sms-mobile": BOB_MOBILE}, HTTP_HX_REQUEST="true")
    login_code = latest_code(BOB_MOBILE)
    password_login(client)

    response = client.post(SETUP, {"code": login_code})

    assert response.status_code == 400
    assert "qr-svg" not in client.get(SETUP).content.decode()


def test_an_sms_login_has_already_proved_the_mobile(client: Client, new_bob: User) -> None:
    client.post("/console/login/code/", {"sms-mobile": BOB_MOBILE}, HTTP_HX_REQUEST="true")
    client.post("/console/login/", {"tab": "sms", "sms-mobile": BOB_MOBILE, "sms-code": latest_code(BOB_MOBILE)})

    page = client.get(SETUP)

    body = page.content.decode()
    assert "qr-svg" in body
    assert "验证手机" not in body
    device = TOTPDevice.objects.get(user=new_bob, confirmed=False)
    client.post(SETUP, {"code": f"{totp(device.bin_key):06d}"})
    assert AuditEvent.objects.get(action="auth.totp_enrolled").details["mobile_proof"] == "sms_login"


def test_posting_an_app_code_without_the_mobile_step_binds_nothing(client: Client, new_bob: User) -> None:
    """An attacker with the password cannot skip the page and post a code for a device."""
    password_login(client)
    rogue = TOTPDevice.objects.create(user=new_bob, name="rogue", confirmed=False)

    response = client.post(SETUP, {"code": f"{totp(rogue.bin_key):06d}"})

    assert response.status_code == 400
    rogue.refresh_from_db()
    assert not rogue.confirmed
    assert client.get("/console/").status_code == 302


def test_a_cadre_without_a_mobile_is_told_to_ask_for_one(client: Client, tree: Tree) -> None:
    make_cadre("nomobile", "无手机", tree.tianhe, RoleKind.STAFF)
    TOTPDevice.objects.filter(user__username="nomobile").delete()
    password_login(client, "nomobile")

    page = client.get(SETUP)

    assert page.status_code == 403
    assert "请联系上级管理员登记手机号" in page.content.decode()
    assert not TOTPDevice.objects.filter(user__username="nomobile").exists()
    assert client.post(SETUP, {"action": "send_code"}).status_code == 403
    assert not SmsMessage.objects.exists()


def test_a_mobile_proof_belongs_to_the_mobile_it_was_sent_to(client: Client, new_bob: User) -> None:
    """If the registered mobile changes after the proof, the proof no longer counts."""
    password_login(client)
    client.post(SETUP, {"action": "send_code"})
    client.post(SETUP, {"code": latest_code(BOB_MOBILE)})
    User.objects.filter(pk=new_bob.pk).update(mobile="13800000099")

    assert "验证手机" in client.get(SETUP).content.decode()
