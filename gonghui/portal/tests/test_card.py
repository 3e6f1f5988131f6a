"""电子会员卡 on the portal, its printable copies, and /card/verify."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from gonghui.conftest import Tree
from gonghui.core.models import AuditEvent, User
from gonghui.members import card_tokens
from gonghui.members.card_tokens import CardResult
from gonghui.members.models import Member, MemberStatus
from gonghui.orgs import actions as org_actions

CARD = reverse("portal:card")
VERIFY = reverse("portal:card_verify")
TOKEN_ATTR = re.compile(r'id="card-qr" data-token="([^"]+)"')


def member_client(member: Member) -> Client:
    client = Client()
    assert member.user is not None
    client.force_login(member.user)
    return client


def token_on(body: str) -> str:
    found = TOKEN_ATTR.search(body)
    assert found is not None, "no QR token on the page"
    return found.group(1)


def test_card_needs_login(client: Client) -> None:
    response = client.get(CARD)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("portal:login"))


def test_member_sees_the_card_with_a_live_qr(frank: Member) -> None:
    org_actions.update_org(actor=None, org=frank.org, values={"theme_color": "#1f6feb"})
    client = member_client(frank)

    response = client.get(CARD)

    body = response.content.decode()
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    frank.refresh_from_db()
    assert frank.card_number is not None  # issued on first view
    assert frank.card_number in body
    assert "范克" in body
    assert "广州天河软件园有限公司工会" in body
    assert "2020-05-01" in body
    assert "--theme: #1f6feb" in body
    assert "<svg" in body and 'class="qr-svg"' in body
    assert frank.reveal_id_number() not in body
    assert card_tokens.check(token_on(body)).result == CardResult.VALID
    assert f'hx-get="{reverse("portal:card_qr")}"' in body
    assert "every 45s" in body  # refreshed before the 60 s token dies


def test_qr_partial_returns_a_fresh_token(frank: Member) -> None:
    client = member_client(frank)
    first = token_on(client.get(CARD).content.decode())

    partial = client.get(reverse("portal:card_qr"), HTTP_HX_REQUEST="true").content.decode()

    second = token_on(partial)
    assert second != first
    assert "<html" not in partial
    assert card_tokens.check(second).result == CardResult.VALID


def test_retained_member_card_says_retained(frank: Member) -> None:
    Member.objects.filter(pk=frank.pk).update(status=MemberStatus.RETAINED, retain_reason="retired")

    body = member_client(frank).get(CARD).content.decode()

    assert "member-card-ribbon" in body
    assert "保留会籍" in body


def test_member_who_left_sees_why_and_how_to_rejoin(frank: Member) -> None:
    Member.objects.filter(pk=frank.pk).update(status=MemberStatus.LEFT, left_at=timezone.now())
    client = member_client(frank)

    body = client.get(CARD).content.decode()

    assert "会员卡已失效" in body
    assert 'id="card-qr"' not in body
    assert reverse("portal:find_union") in body
    assert "会员卡已失效" in client.get(reverse("portal:card_qr")).content.decode()


def test_user_without_membership_is_pointed_to_find_and_apply(tree: Tree) -> None:
    user = User.objects.create_user("visitor", password="correct-horse-battery", name="访客")
    client = Client()
    client.force_login(user)

    body = client.get(CARD).content.decode()

    assert "您还不是工会会员" in body
    assert reverse("portal:find_union") in body
    assert 'id="card-qr"' not in body


def test_printable_card_has_the_number_and_no_token(frank: Member) -> None:
    client = member_client(frank)

    body = client.get(reverse("portal:card_print")).content.decode()

    frank.refresh_from_db()
    assert frank.card_number in body
    assert "@page" not in body  # the print rules live in card.css
    assert "保存为PDF/打印" in body
    assert "data-token" not in body
    assert "实时二维码" in body


def test_card_image_is_an_svg_download_with_the_number(frank: Member) -> None:
    response = member_client(frank).get(reverse("portal:card_image"))

    frank.refresh_from_db()
    body = response.content.decode()
    assert response.status_code == 200
    assert response["Content-Type"].startswith("image/svg+xml")
    assert f'filename="gonghui-card-{frank.card_number}.svg"' in response["Content-Disposition"]
    assert body.startswith("<?xml")
    assert "范克" in body and "广州天河软件园有限公司工会" in body
    assert frank.card_number is not None and frank.card_number[:4] in body
    assert frank.reveal_id_number() not in body


def test_me_page_links_to_the_card(frank: Member) -> None:
    body = member_client(frank).get(reverse("portal:me")).content.decode()

    assert f'href="{CARD}"' in body


# --- /card/verify ----------------------------------------------------------------------


def test_verify_asks_anonymous_visitors_to_log_in(client: Client) -> None:
    body = client.get(VERIFY).content.decode()

    assert "请先登录" in body
    assert f"{reverse('portal:login')}?next={VERIFY}" in body
    assert 'name="token"' not in body


def test_verify_refuses_ordinary_members(frank: Member) -> None:
    client = member_client(frank)

    response = client.get(VERIFY)
    posted = client.post(VERIFY, {"token": "x"})

    assert response.status_code == 403
    assert "无权核验会员卡" in response.content.decode()
    assert posted.status_code == 403
    assert not AuditEvent.objects.filter(action="card.verify").exists()


def test_cadre_verifies_a_live_token(frank: Member, charlie: User) -> None:
    token = token_on(member_client(frank).get(CARD).content.decode())
    client = Client()
    client.force_login(charlie)  # another district's cadre: cards are checked anywhere

    page = client.get(VERIFY)
    body = client.post(VERIFY, {"token": token}).content.decode()

    assert page.status_code == 200
    assert 'name="token"' in page.content.decode()
    assert 'data-result="valid"' in body
    assert "范*" in body
    assert "范克" not in body
    assert frank.reveal_id_number() not in body
    assert frank.id_number_masked not in body


def test_htmx_verify_returns_only_the_result_panel(frank: Member, dave: User) -> None:
    token = token_on(member_client(frank).get(CARD).content.decode())
    client = Client()
    client.force_login(dave)

    body = client.post(VERIFY, {"token": "garbage"}, HTTP_HX_REQUEST="true").content.decode()
    valid = client.post(VERIFY, {"token": token}, HTTP_HX_REQUEST="true").content.decode()

    assert "<html" not in body
    assert 'data-result="invalid"' in body
    assert 'data-result="valid"' in valid


def test_partner_merchant_in_the_group_may_verify(frank: Member, tree: Tree) -> None:
    merchant = User.objects.create_user("shop", password="correct-horse-battery", name="商户")
    merchant.groups.add(Group.objects.create(name=card_tokens.VERIFIER_GROUP))
    token = token_on(member_client(frank).get(CARD).content.decode())
    client = Client()
    client.force_login(merchant)

    body = client.post(VERIFY, {"token": token}).content.decode()

    assert 'data-result="valid"' in body
    assert AuditEvent.objects.filter(action="card.verify", actor=merchant).count() == 1


@override_settings(MEMBER_CARD_VERIFY_PER_MINUTE=2)
def test_too_many_checks_are_throttled(frank: Member, dave: User) -> None:
    client = Client()
    client.force_login(dave)
    for _ in range(2):
        client.post(VERIFY, {"token": "x"})

    response = client.post(VERIFY, {"token": "x"})
    htmx = client.post(VERIFY, {"token": "x"}, HTTP_HX_REQUEST="true")

    assert response.status_code == 429
    assert "核验过于频繁" in response.content.decode()
    assert htmx.status_code == 200 and "核验过于频繁" in htmx.content.decode()


@pytest.mark.parametrize(
    ("status", "expected"),
    [(MemberStatus.RETAINED, "retained"), (MemberStatus.LEFT, "left")],
)
def test_verify_shows_retained_and_left(frank: Member, dave: User, status: str, expected: str) -> None:
    token = token_on(member_client(frank).get(CARD).content.decode())
    Member.objects.filter(pk=frank.pk).update(status=status)
    client = Client()
    client.force_login(dave)

    body = client.post(VERIFY, {"token": token}).content.decode()

    assert f'data-result="{expected}"' in body


def test_qr_codes_are_full_size_qr_not_micro_qr() -> None:
    from gonghui.portal.views.card import qr_matrix

    # Micro QR (one finder pattern) would fit a card number, but phone scanners rarely read it.
    assert qr_matrix("GH4444010600000001").size == 21 + 4
