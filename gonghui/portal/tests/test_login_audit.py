"""Portal sign-ins leave the same audit trail as the console's (``core.auth.record_login``)."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.urls import reverse

from gonghui.conftest import Tree
from gonghui.core.models import AuditEvent, User
from gonghui.members.models import Member
from gonghui.portal.tests.helpers import latest_code

LOGIN = reverse("portal:login")
FRANK_MOBILE = "13900000006"
PASSWORD = "correct-horse-battery"


def password_login(client: Client, username: str, password: str = PASSWORD) -> Any:
    return client.post(LOGIN, {"tab": "password", "username": username, "password": password})


def test_a_password_login_is_audited_under_the_members_union(client: Client, frank: Member) -> None:
    assert password_login(client, FRANK_MOBILE).status_code == 302

    event = AuditEvent.objects.get(action="auth.login")
    assert (event.actor_id, event.object_type, event.object_id) == (frank.user_id, "core.user", str(frank.user_id))
    assert event.details == {"method": "password", "where": "portal"}
    # Filed under the member's union, so that union's auditors can read it.
    assert (event.org_id, event.org_path) == (frank.org_id, frank.org.path)
    assert event.ip == "127.0.0.1"


def test_a_wrong_password_is_audited_with_the_mobile_masked(client: Client, frank: Member) -> None:
    assert password_login(client, FRANK_MOBILE, "not-the-password").status_code == 400

    event = AuditEvent.objects.get(action="auth.login_failed")
    assert event.actor_id is None
    assert event.actor_label == "匿名"
    assert event.details == {
        "identifier": "139****0006",
        "method": "password",
        "reason": "bad_credentials",
        "where": "portal",
    }
    assert FRANK_MOBILE not in str(event.details)
    assert not AuditEvent.objects.filter(action="auth.login").exists()


def test_a_wrong_login_name_is_masked_too(client: Client, frank: Member) -> None:
    """People type their password into the name box: a failed name must not be logged in clear."""
    password_login(client, "MySecretPassw0rd", "x")

    assert AuditEvent.objects.get(action="auth.login_failed").details["identifier"] == "My******"


def test_an_sms_login_and_a_wrong_code_are_audited(client: Client, frank: Member) -> None:
    client.post(reverse("portal:send_code"), {"mobile": FRANK_MOBILE})
    code = latest_code(FRANK_MOBILE)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"

    assert client.post(LOGIN, {"tab": "sms", "mobile": FRANK_MOBILE, "code": wrong}).status_code == 400
    assert client.post(LOGIN, {"tab": "sms", "mobile": FRANK_MOBILE, "code": code}).status_code == 302

    failed = AuditEvent.objects.get(action="auth.login_failed")
    assert failed.details == {"identifier": "139****0006", "method": "sms", "reason": "bad_code", "where": "portal"}
    assert AuditEvent.objects.get(action="auth.login").details == {"method": "sms", "where": "portal"}


def test_an_sms_login_for_an_unknown_mobile_is_audited(client: Client, tree: Tree) -> None:
    client.post(LOGIN, {"tab": "sms", "mobile": "13911112222", "code": "123456"})

    event = AuditEvent.objects.get(action="auth.login_failed")
    assert event.details["reason"] == "unknown_account"
    assert event.details["identifier"] == "139****2222"


def test_a_cadre_signing_in_to_the_portal_is_filed_under_their_topmost_role(
    client: Client, tree: Tree, dave: User
) -> None:
    password_login(client, "dave")

    event = AuditEvent.objects.get(action="auth.login")
    assert event.org_id == tree.tianhe_union.pk
    assert event.details["where"] == "portal"


def test_throttled_attempts_are_not_audited(client: Client, frank: Member, settings: Any) -> None:
    for _ in range(settings.LOGIN_MAX_FAILURES + 3):
        password_login(client, FRANK_MOBILE, "not-the-password")

    assert AuditEvent.objects.filter(action="auth.login_failed").count() == settings.LOGIN_MAX_FAILURES
