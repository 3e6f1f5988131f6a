"""我的: the member's own record, masked."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from gonghui.core.models import AuditEvent, User
from gonghui.members import actions as member_actions
from gonghui.members.models import Member, MemberStatus

ME = reverse("portal:me")


def test_me_needs_login(client: Client) -> None:
    response = client.get(ME)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('portal:login')}?next=/me/"


def test_me_shows_the_record_with_masked_values_only(client: Client, frank: Member) -> None:
    member_actions.update_member(actor=None, member=frank, values={"employment_status": "flexible"})
    client.force_login(frank.user)
    plaintext_id = frank.reveal_id_number()
    reveals_before = AuditEvent.objects.filter(action="member.pii_reveal").count()

    body = client.get(ME).content.decode()

    assert "范克" in body
    assert "广州天河软件园有限公司工会" in body
    assert frank.id_number_masked in body
    assert plaintext_id not in body
    assert "139****0006" in body
    assert "13900000006" not in body
    assert "正常" in body
    assert "灵活就业" in body
    assert frank.get_gender_display() in body
    assert reverse("portal:union_home", kwargs={"org_id": frank.org_id}) in body
    assert AuditEvent.objects.filter(action="member.pii_reveal").count() == reveals_before


def test_retained_member_sees_the_retained_badge(client: Client, frank: Member) -> None:
    Member.objects.filter(pk=frank.pk).update(status=MemberStatus.RETAINED, retain_reason="retired")
    client.force_login(frank.user)

    body = client.get(ME).content.decode()

    assert "保留会籍" in body
    assert "badge-warn" in body


def test_user_without_a_member_record_gets_an_explanation(client: Client, tree: object) -> None:
    user = User.objects.create_user("visitor", password="correct-horse-battery", name="访客")
    client.force_login(user)

    response = client.get(ME)

    assert response.status_code == 200
    assert "还没有关联会员档案" in response.content.decode()


def test_me_page_has_a_language_switch_and_logout(client: Client, frank: Member) -> None:
    client.force_login(frank.user)

    body = client.get(ME).content.decode()

    assert f'action="{reverse("set_language")}"' in body
    assert 'value="en"' in body
    assert f'action="{reverse("portal:logout")}"' in body


def test_me_is_never_cached(client: Client, frank: Member) -> None:
    client.force_login(frank.user)

    response = client.get(ME)

    assert "no-store" in response["Cache-Control"]
