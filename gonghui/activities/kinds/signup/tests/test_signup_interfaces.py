"""Sign-up through its interfaces: the portal panel and ticket, the console registrations
list and check-in page, and the API (member and organiser), with tenancy."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from gonghui.activities.kinds.signup import actions, tickets
from gonghui.activities.kinds.signup.models import Registration, RegistrationStatus
from gonghui.activities.kinds.signup.tests.helpers import open_signup, with_account
from gonghui.conftest import Tree, console_client, make_member
from gonghui.core.models import User
from gonghui.members.models import Member

S = RegistrationStatus
FIELDS = "T恤尺码 | 选择 | 必填 | S/M/L\n随行人数 | 数字 | 选填"


@pytest.fixture
def ming(tree: Tree) -> Member:
    return with_account(make_member(tree.tianhe_union, "李明", mobile="13700001111"), "13700001111")


@pytest.fixture
def hong(tree: Tree) -> Member:
    return with_account(make_member(tree.tianhe_union, "王红", mobile="13700002222"), "13700002222")


def portal(member: Member) -> Client:
    client = Client()
    assert member.user is not None
    client.force_login(member.user)
    return client


def api_post(client: Client, path: str, body: dict[str, Any] | None = None) -> Any:
    return client.post(path, body or {}, content_type="application/json")


# --- portal -------------------------------------------------------------------------------


def test_portal_panel_sign_up_with_the_form_then_the_ticket(tree: Tree, ming: Member) -> None:
    activity = open_signup(tree.tianhe_union, capacity=1, waitlist_enabled=True, form_fields=FIELDS, venue="白云山南门")
    client = portal(ming)
    page = client.get(f"/a/{activity.pk}/").content.decode()
    assert 'id="signup-form"' in page and "T恤尺码" in page and "白云山南门" in page

    # A missing required answer: refused, with what was typed kept.
    response = client.post(f"/a/{activity.pk}/signup/register/", {"a_f2": "2"})
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "请填写“T恤尺码”" in page and 'value="2"' in page
    assert not Registration.objects.exists()

    response = client.post(f"/a/{activity.pk}/signup/register/", {"a_f1": "M", "a_f2": "2"})
    assert response["Location"] == f"/a/{activity.pk}/signup/ticket/"
    reg = Registration.objects.get(member=ming)
    assert reg.status == S.CONFIRMED and reg.answers == {"f1": "M", "f2": 2}
    ticket = client.get(response["Location"]).content.decode()
    assert reg.ticket_display in ticket
    assert tickets.sign(reg.pk, reg.ticket_code) in ticket  # the QR's content
    page = client.get(f"/a/{activity.pk}/").content.decode()
    assert "我的签到二维码" in page and "取消报名" in page


def test_portal_waitlist_place_offer_confirm_and_cancel(tree: Tree, ming: Member, hong: Member) -> None:
    activity = open_signup(tree.tianhe_union, capacity=1, waitlist_enabled=True)
    portal(ming).post(f"/a/{activity.pk}/signup/register/")
    client = portal(hong)
    client.post(f"/a/{activity.pk}/signup/register/")
    page = client.get(f"/a/{activity.pk}/").content.decode()
    assert "候补第 1 位" in page and "退出候补" in page

    portal(ming).post(f"/a/{activity.pk}/signup/cancel/")
    page = client.get(f"/a/{activity.pk}/").content.decode()
    assert 'id="signup-offer"' in page
    response = client.post(f"/a/{activity.pk}/signup/confirm/")
    assert response["Location"] == f"/a/{activity.pk}/signup/ticket/"
    assert Registration.objects.get(member=hong).status == S.CONFIRMED
    # Ming's ticket page sends him back to the activity: no seat, no ticket.
    assert portal(ming).get(f"/a/{activity.pk}/signup/ticket/").status_code == 302


def test_portal_actions_need_a_login_and_a_signup(tree: Tree, ming: Member) -> None:
    activity = open_signup(tree.tianhe_union)
    assert Client().post(f"/a/{activity.pk}/signup/register/").status_code == 302  # to the login page
    assert portal(ming).post(f"/a/{activity.pk}/signup/cancel/").status_code == 404


# --- console ------------------------------------------------------------------------------


def test_console_registrations_list_filters_counts_and_masks(tree: Tree, bob: User, ming: Member, hong: Member) -> None:
    activity = open_signup(tree.tianhe_union, capacity=1, waitlist_enabled=True, form_fields=FIELDS)
    actions.sign_up(member=ming, activity=activity, answers={"f1": "L"})
    actions.sign_up(member=hong, activity=activity, answers={"f1": "S"})
    client = console_client(bob)
    page = client.get(f"/console/activities/{activity.pk}/signup/registrations/").content.decode()
    assert "李*" in page and "王*" in page and "李明" not in page and "137****1111" in page
    assert 'id="count-confirmed">1' in page
    only_waiting = client.get(f"/console/activities/{activity.pk}/signup/registrations/?show=waitlisted").content
    assert "王*" in only_waiting.decode() and "李*" not in only_waiting.decode()
    detail = client.get(f"/console/activities/{activity.pk}/").content.decode()
    assert "扫码签到" in detail and 'id="signup-results"' in detail


def test_console_remove_someone_moves_the_seat(tree: Tree, bob: User, ming: Member, hong: Member) -> None:
    activity = open_signup(tree.tianhe_union, capacity=1, waitlist_enabled=True)
    reg = actions.sign_up(member=ming, activity=activity)
    actions.sign_up(member=hong, activity=activity)
    client = console_client(bob)
    url = f"/console/activities/{activity.pk}/signup/registrations/{reg.pk}/cancel/"
    client.post(url, {"reason": ""})
    assert Registration.objects.get(pk=reg.pk).status == S.CONFIRMED
    client.post(url, {"reason": "单位已另行安排"})
    assert Registration.objects.get(pk=reg.pk).status == S.CANCELLED
    assert Registration.objects.get(member=hong).status == S.OFFERED


def test_console_check_in_page_scans_and_counts(tree: Tree, dave: User, ming: Member, hong: Member) -> None:
    activity = open_signup(tree.tianhe_union)
    reg = actions.sign_up(member=ming, activity=activity)
    client = console_client(dave)
    page = client.get(f"/console/activities/{activity.pk}/signup/checkin/").content.decode()
    assert 'id="attendance-checked-in">0' in page
    scan = f"/console/activities/{activity.pk}/signup/checkin/scan/"
    answer = client.post(scan, {"code": tickets.sign(reg.pk, reg.ticket_code)}, HTTP_HX_REQUEST="true").content
    text = answer.decode()
    assert 'data-outcome="checked_in"' in text and 'id="attendance-checked-in">1' in text and "hx-swap-oob" in text
    again = client.post(scan, {"code": reg.ticket_display}, HTTP_HX_REQUEST="true").content.decode()
    assert 'data-outcome="already"' in again and "已签到" in again
    other = open_signup(tree.tianhe_union)
    theirs = actions.sign_up(member=hong, activity=other)
    nope = client.post(scan, {"code": theirs.ticket_code}, HTTP_HX_REQUEST="true").content.decode()
    assert 'data-outcome="not_registered"' in nope and "未报名" in nope
    counts = client.get(f"/console/activities/{activity.pk}/signup/checkin/counts/", HTTP_HX_REQUEST="true")
    assert 'id="attendance-checked-in">1' in counts.content.decode()


def test_console_pages_are_404_outside_the_subtree_and_check_in_needs_manage(
    tree: Tree, charlie: User, erin: User, ming: Member
) -> None:
    activity = open_signup(tree.tianhe_union)
    reg = actions.sign_up(member=ming, activity=activity)
    outsider = console_client(charlie)
    for url in ("registrations/", "checkin/", "checkin/counts/"):
        assert outsider.get(f"/console/activities/{activity.pk}/signup/{url}").status_code == 404
    assert (
        outsider.post(f"/console/activities/{activity.pk}/signup/checkin/scan/", {"code": reg.ticket_code}).status_code
        == 404
    )
    auditor = console_client(erin)  # sees the list, cannot check anyone in
    assert auditor.get(f"/console/activities/{activity.pk}/signup/registrations/").status_code == 200
    assert (
        auditor.post(f"/console/activities/{activity.pk}/signup/checkin/scan/", {"code": reg.ticket_code}).status_code
        == 404
    )
    assert Registration.objects.get(pk=reg.pk).checked_in_at is None


# --- API ----------------------------------------------------------------------------------


def test_api_member_flow(tree: Tree, ming: Member, hong: Member) -> None:
    activity = open_signup(tree.tianhe_union, capacity=1, waitlist_enabled=True, form_fields=FIELDS)
    base = f"/api/v1/activities/{activity.pk}/signup"
    m, h = portal(ming), portal(hong)
    state = m.get(base).json()
    assert state["numbers"] == {"capacity": 1, "remaining": 1, "waitlisted": 0, "confirmed": 0}
    assert [f["key"] for f in state["fields"]] == ["f1", "f2"] and state["registration"] is None
    bad = api_post(m, base, {"answers": {"f1": "XXL"}})
    assert (bad.status_code, bad.json()["code"]) == (400, "SIGNUP_FIELD_CHOICE")
    done = api_post(m, base, {"answers": {"f1": "M"}})
    assert done.status_code == 201 and done.json()["registration"]["status"] == "confirmed"
    again = api_post(m, base, {"answers": {"f1": "M"}})
    assert (again.status_code, again.json()["code"]) == (403, "SIGNUP_ALREADY")
    ticket = m.get(f"{base}/ticket").json()
    assert tickets.read(ticket["token"]).registration_id == Registration.objects.get(member=ming).pk

    waiting = api_post(h, base, {"answers": {"f1": "S"}}).json()["registration"]
    assert (waiting["status"], waiting["waitlist_place"]) == ("waitlisted", 1)
    assert h.get(f"{base}/ticket").json()["code"] == "SIGNUP_NO_TICKET"
    assert api_post(m, f"{base}/cancel").json()["registration"]["status"] == "cancelled"
    offered = h.get(base).json()["registration"]
    assert offered["status"] == "offered" and offered["offer_expires_at"]
    assert api_post(h, f"{base}/confirm").json()["registration"]["status"] == "confirmed"
    assert api_post(m, f"{base}/confirm").json()["code"] == "SIGNUP_NOT_FOUND"
    assert Client().get(base).status_code == 401


def test_api_organiser_list_check_in_and_remove_with_tenancy(
    tree: Tree, bob: User, charlie: User, ming: Member, hong: Member
) -> None:
    activity = open_signup(tree.tianhe_union, capacity=1, waitlist_enabled=True)
    reg = actions.sign_up(member=ming, activity=activity)
    actions.sign_up(member=hong, activity=activity)
    base = f"/api/v1/activities/{activity.pk}/signup"
    api = console_client(bob)
    listing = api.get(f"{base}/registrations").json()
    assert listing["count"] == 2 and listing["counts"]["waitlisted"] == 1
    assert {i["masked_name"] for i in listing["items"]} == {"李*", "王*"}
    assert "李明" not in str(listing)
    result = api_post(api, f"{base}/checkin", {"code": tickets.sign(reg.pk, reg.ticket_code)}).json()
    assert result["outcome"] == "checked_in" and result["attendance"]["checked_in"] == 1
    assert api_post(api, f"{base}/checkin", {"code": reg.ticket_code}).json()["outcome"] == "already"
    assert api.get(f"{base}/attendance").json() == {"confirmed": 1, "checked_in": 1, "absent": 0}
    hong_reg = Registration.objects.get(member=hong)
    removed = api_post(api, f"{base}/registrations/{hong_reg.pk}/cancel", {"reason": "重复报名"})
    assert removed.json()["status"] == "cancelled"

    outsider = console_client(charlie)
    assert outsider.get(f"{base}/registrations").status_code == 404
    assert api_post(outsider, f"{base}/checkin", {"code": reg.ticket_code}).status_code == 404
    assert api_post(outsider, f"{base}/registrations/{reg.pk}/cancel", {"reason": "x"}).status_code == 404
