"""Portal: register by SMS, apply to join, follow the application, claim a record."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from gonghui.conftest import Tree, make_member, new_id_number
from gonghui.core.models import AuditEvent, User
from gonghui.members import joining
from gonghui.members.models import Application, ApplicationStatus, Member
from gonghui.portal.tests.helpers import latest_code

MOBILE = "13722223333"


@pytest.fixture
def applicant(db: Any) -> User:
    return User.objects.create_user(MOBILE, mobile=MOBILE)


@pytest.fixture
def applicant_client(applicant: User) -> Client:
    client = Client()
    client.force_login(applicant)
    return client


def form(id_number: str, **overrides: Any) -> dict[str, Any]:
    values = {
        "name": "陈小明",
        "id_number": id_number,
        "mobile": MOBILE,
        "workplace": "广州天河软件园有限公司",
        "employment_status": "employed",
        "new_employment_group": "",
        "consent": "on",
    }
    values.update(overrides)
    return values


# --- registration ----------------------------------------------------------------------


def test_register_by_sms_creates_an_account_and_logs_in(db: Any) -> None:
    client = Client()
    response = client.post(reverse("portal:register_code"), {"mobile": "137 2222 4444"})
    assert "验证码已发送" in response.content.decode()
    code = latest_code("13722224444")
    target = reverse("portal:find_union")
    response = client.post(reverse("portal:register"), {"mobile": "13722224444", "code": code, "next": target})
    assert response.status_code == 302 and response["Location"] == target
    user = User.objects.get(mobile="13722224444")
    assert not user.has_usable_password()
    assert client.get(reverse("portal:applications")).status_code == 200  # logged in
    assert AuditEvent.objects.filter(action="account.register", actor=user).exists()
    assert AuditEvent.objects.filter(action="auth.login", actor=user).exists()


def test_a_login_code_does_not_register(db: Any) -> None:
    from gonghui.core import sms

    client = Client()
    sms.send_code("13722224445", "login")  # a code for another purpose
    code = latest_code("13722224445")
    response = client.post(reverse("portal:register"), {"mobile": "13722224445", "code": code})
    assert response.status_code == 400
    assert not User.objects.filter(mobile="13722224445").exists()


def test_register_refuses_a_registered_mobile(applicant: User) -> None:
    response = Client().post(reverse("portal:register_code"), {"mobile": MOBILE})
    assert "已注册" in response.content.decode()
    assert User.objects.filter(mobile=MOBILE).count() == 1


def test_register_is_throttled_after_bad_codes(db: Any) -> None:
    client = Client()
    for _ in range(5):
        client.post(reverse("portal:register"), {"mobile": "13722225555", "code": "000000"})
    response = client.post(reverse("portal:register_code"), {"mobile": "13722225555"})
    assert "次数过多" in response.content.decode()
    assert AuditEvent.objects.filter(action="auth.login_failed").count() == 5


def test_the_login_page_offers_registration(db: Any) -> None:
    body = Client().get(reverse("portal:login")).content.decode()
    assert reverse("portal:register") in body


# --- applying ----------------------------------------------------------------------------


def test_apply_page_asks_a_visitor_to_log_in_or_register(tree: Tree) -> None:
    url = reverse("portal:apply", args=[tree.tianhe_union.pk])
    body = Client().get(url).content.decode()
    assert reverse("portal:register") + "?next=" in body
    assert 'name="id_number"' not in body


def test_apply_submits_and_the_status_page_shows_it_pending(tree: Tree, applicant_client: Client) -> None:
    url = reverse("portal:apply", args=[tree.tianhe_union.pk])
    body = applicant_client.get(url).content.decode()
    assert joining.CONSENT_TEXT in body and f'value="{MOBILE}"' in body
    response = applicant_client.post(url, form(new_id_number()))
    assert response.status_code == 302 and response["Location"] == reverse("portal:applications")
    application = Application.objects.get()
    assert application.org == tree.tianhe_union and application.status == ApplicationStatus.PENDING
    body = applicant_client.get(reverse("portal:applications")).content.decode()
    assert "广州天河软件园有限公司工会" in body and "待审批" in body and "撤回申请" in body
    # While it waits, the apply page points to the status instead of a second form.
    assert "正在审批" in applicant_client.get(url).content.decode()


def test_apply_without_consent_is_refused_beside_the_checkbox(tree: Tree, applicant_client: Client) -> None:
    url = reverse("portal:apply", args=[tree.tianhe_union.pk])
    response = applicant_client.post(url, form(new_id_number(), consent=""))
    assert response.status_code == 400
    assert "授权书" in response.content.decode()
    assert not Application.objects.exists()


def test_a_bad_id_number_is_shown_on_its_field(tree: Tree, applicant_client: Client) -> None:
    url = reverse("portal:apply", args=[tree.tianhe_union.pk])
    response = applicant_client.post(url, form("44010619900101123"))
    assert response.status_code == 400
    assert 'id="id_id_number-error"' in response.content.decode()


def test_a_member_elsewhere_is_told_where_and_offered_claim_then_transfer(tree: Tree, applicant_client: Client) -> None:
    id_number = new_id_number("440305")
    make_member(tree.nanshan_union, "陈小明", id_number=id_number, mobile=MOBILE)
    url = reverse("portal:apply", args=[tree.tianhe_union.pk])
    response = applicant_client.post(url, form(id_number))
    assert response.status_code == 409
    body = response.content.decode()
    assert "您已是深圳南山科技有限公司工会的会员" in body and "申请转会" in body
    assert reverse("portal:claim") in body  # not linked yet: claim the record first
    assert not Application.objects.exists()


def test_a_linked_member_sees_their_union_and_a_transfer_offer(tree: Tree, frank: Member) -> None:
    client = Client()
    client.force_login(frank.user)
    body = client.get(reverse("portal:apply", args=[tree.nanshan_union.pk])).content.decode()
    assert "您已是工会会员" in body and "广州天河软件园有限公司工会" in body
    assert "id_number" not in body


def test_the_status_page_shows_the_card_number_or_the_reason(tree: Tree, applicant: User, dave: User) -> None:
    other = User.objects.create_user("13722226666", mobile="13722226666")
    first = joining.apply_for_membership(
        applicant,
        tree.tianhe_union,
        joining.ApplicationInput(name="陈小明", id_number=new_id_number(), mobile=MOBILE),
        consent=True,
    )
    second = joining.apply_for_membership(
        other,
        tree.tianhe_union,
        joining.ApplicationInput(name="周小红", id_number=new_id_number(), mobile="13722226666"),
        consent=True,
    )
    member = joining.approve(dave, first)
    joining.reject(dave, second, "请填写完整的工作单位名称")
    client = Client()
    client.force_login(applicant)
    body = client.get(reverse("portal:applications")).content.decode()
    assert "已通过" in body and str(member.card_number) in body
    client.force_login(other)
    body = client.get(reverse("portal:applications")).content.decode()
    assert "未通过" in body and "请填写完整的工作单位名称" in body
    assert str(member.card_number) not in body


def test_withdraw_from_the_status_page(tree: Tree, applicant: User, applicant_client: Client) -> None:
    application = joining.apply_for_membership(
        applicant,
        tree.tianhe_union,
        joining.ApplicationInput(name="陈小明", id_number=new_id_number(), mobile=MOBILE),
        consent=True,
    )
    stranger = User.objects.create_user("13722227777", mobile="13722227777")
    stranger_client = Client()
    stranger_client.force_login(stranger)
    url = reverse("portal:application_withdraw", args=[application.pk])
    assert stranger_client.post(url).status_code == 404
    response = applicant_client.post(url)
    assert response.status_code == 302
    application.refresh_from_db()
    assert application.status == ApplicationStatus.WITHDRAWN


def test_union_home_and_finder_link_to_apply(tree: Tree) -> None:
    apply_url = reverse("portal:apply", args=[tree.tianhe_union.pk])
    assert apply_url in Client().get(reverse("portal:union_home", args=[tree.tianhe_union.pk])).content.decode()
    body = Client().get(reverse("portal:find_union"), {"q": "天河软件园"}).content.decode()
    assert apply_url in body


# --- claiming ----------------------------------------------------------------------------


def test_claim_links_the_record_and_continues_to_next(tree: Tree, applicant: User, applicant_client: Client) -> None:
    id_number = new_id_number()
    member = make_member(tree.tianhe_union, "陈小明", id_number=id_number, mobile=MOBILE)
    response = applicant_client.post(
        reverse("portal:claim"), {"name": "陈小明", "id_number": id_number, "next": "/me/"}
    )
    assert response.status_code == 302 and response["Location"] == "/me/"
    member.refresh_from_db()
    assert member.user == applicant
    assert "陈小明" in applicant_client.get(reverse("portal:me")).content.decode()


def test_claim_mismatch_says_to_contact_the_union(tree: Tree, applicant_client: Client) -> None:
    id_number = new_id_number()
    make_member(tree.tianhe_union, "陈小明", id_number=id_number, mobile="13900009999")
    response = applicant_client.post(reverse("portal:claim"), {"name": "陈小明", "id_number": id_number})
    assert response.status_code == 400
    assert "联系所在工会" in response.content.decode()
    assert not Member.objects.filter(user__isnull=False).exists()


def test_claim_guesses_are_throttled(tree: Tree, applicant_client: Client) -> None:
    id_number = new_id_number()
    make_member(tree.tianhe_union, "陈小明", id_number=id_number, mobile=MOBILE)
    for _ in range(5):
        applicant_client.post(reverse("portal:claim"), {"name": "陈某", "id_number": new_id_number()})
    response = applicant_client.post(reverse("portal:claim"), {"name": "陈小明", "id_number": id_number})
    assert "次数过多" in response.content.decode()
    assert not Member.objects.filter(user__isnull=False).exists()
