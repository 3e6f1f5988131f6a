"""The member list (scoped, searched, keyset-paged, bounded queries), the record, reveal, edit."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from django.test import Client

from gonghui.conftest import Tree, console_client, make_member, new_id_number
from gonghui.core.models import AuditEvent, User
from gonghui.members.models import Member, MemberStatus


def names(response: Any) -> list[str]:
    return [m.name for m in response.context["rows"]]


@pytest.fixture
def people(tree: Tree) -> dict[str, Member]:
    return {
        "zhangsan": make_member(tree.tianhe_union, "张三", mobile="13611110001"),
        "zhangsanfeng": make_member(tree.tianhe_union, "张三丰", mobile="13611110002"),
        "lisi": make_member(tree.tianhe_street, "李四", mobile="13611110003"),
        "wangwu": make_member(
            tree.tianhe_union, "王五", id_number=new_id_number("440106", date(1988, 8, 8)), mobile="13611110004"
        ),
        "nanshan": make_member(tree.nanshan_union, "张南", mobile="13611110005"),
    }


def test_list_is_scoped_newest_first_and_masked(bob_client: Client, people: dict[str, Member]) -> None:
    response = bob_client.get("/console/members/")
    assert response.status_code == 200
    assert names(response) == ["王五", "李四", "张三丰", "张三"]
    body = response.content.decode()
    assert people["wangwu"].id_number_masked in body
    assert "136****0004" in body
    assert people["wangwu"].reveal_id_number() not in body
    assert "13611110004" not in body
    assert "张南" not in body


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("zs", ["张三丰", "张三"]),  # initials
        ("ZSF", ["张三丰"]),  # initials, any case
        ("zhangsan", ["张三丰", "张三"]),  # full pinyin
        ("zhangsanf", ["张三丰"]),
        ("张三", ["张三丰", "张三"]),  # name prefix
        ("李", ["李四"]),
        ("13611110003", ["李四"]),  # mobile, exact
        ("136 1111 0003", ["李四"]),
        ("1361111", []),  # partial mobile is not a mobile
        ("13611110005", []),  # Nanshan's member stays invisible
        ("zn", []),
    ],
)
def test_search(bob_client: Client, people: dict[str, Member], query: str, expected: list[str]) -> None:
    assert names(bob_client.get("/console/members/", {"q": query})) == expected


def test_search_by_exact_id_number_through_the_blind_index(bob_client: Client, people: dict[str, Member]) -> None:
    number = people["wangwu"].reveal_id_number()
    for typed in (number, number.lower(), f" {number[:6]} {number[6:14]} {number[14:]} "):
        response = bob_client.get("/console/members/", {"q": typed})
        assert names(response) == ["王五"], typed
        assert response.context["search_kind"] == "id"
    # An ID number of charlie's member finds nothing for bob.
    assert names(bob_client.get("/console/members/", {"q": people["nanshan"].reveal_id_number()})) == []


def test_org_filter_and_status_filter(bob_client: Client, tree: Tree, people: dict[str, Member]) -> None:
    response = bob_client.get("/console/members/", {"org": tree.tianhe_union.pk})
    assert names(response) == ["王五", "张三丰", "张三"]
    assert response.context["exact_total"] == 3  # a single grassroots union is counted
    response = bob_client.get("/console/members/", {"org": tree.tianhe_street.pk})
    assert response.context["exact_total"] is None  # a subtree is counted only on request
    assert "统计总数" in response.content.decode()
    Member.objects.filter(pk=people["lisi"].pk).update(status=MemberStatus.RETAINED)
    assert names(bob_client.get("/console/members/", {"status": "retained"})) == ["李四"]


def test_count_button(bob_client: Client, tree: Tree, people: dict[str, Member]) -> None:
    response = bob_client.get("/console/members/count/", {"q": "zs"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "共 2 人" in response.content.decode()
    response = bob_client.get("/console/members/count/", {"org": tree.tianhe.pk}, HTTP_HX_REQUEST="true")
    assert "共 4 人" in response.content.decode()


def test_keyset_pagination(bob_client: Client, tree: Tree) -> None:
    created = [make_member(tree.tianhe_union, f"会员{i:03d}") for i in range(55)]
    first = bob_client.get("/console/members/")
    assert len(first.context["rows"]) == 50
    assert first.context["next_after"] == created[5].pk
    assert "下一页" in first.content.decode()
    second = bob_client.get("/console/members/", {"after": first.context["next_after"]})
    assert [m.pk for m in second.context["rows"]] == [m.pk for m in reversed(created[:5])]
    assert second.context["next_after"] is None


def test_list_query_count_is_bounded(bob_client: Client, tree: Tree, django_assert_max_num_queries: Any) -> None:
    for i in range(60):
        make_member(tree.tianhe_union if i % 2 else tree.tianhe_street, f"批量{i:02d}")
    bob_client.get("/console/members/")  # the first hit stamps the session's last_seen (a session write)
    # session, user, OTP device, roles, the page of members, the role orgs' names for the top bar
    with django_assert_max_num_queries(6):
        response = bob_client.get("/console/members/")
    assert len(response.context["rows"]) == 50
    with django_assert_max_num_queries(8):  # + the org filter lookup and its exact count
        response = bob_client.get("/console/members/", {"org": tree.tianhe_union.pk, "q": "pl"})
    assert response.context["exact_total"] == 30


def test_htmx_search_answers_with_the_results_only(bob_client: Client, people: dict[str, Member]) -> None:
    response = bob_client.get("/console/members/", {"q": "zs"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="member-results")
    body = response.content.decode()
    assert "张三丰" in body
    assert "<html" not in body


def test_detail_shows_masked_fields_and_the_audit_trail(bob_client: Client, people: dict[str, Member]) -> None:
    member = people["wangwu"]
    response = bob_client.get(f"/console/members/{member.pk}/")
    assert response.status_code == 200
    body = response.content.decode()
    assert member.id_number_masked in body
    assert member.reveal_id_number() not in body
    assert "1988-08-08" not in body  # the birth date is the masked part of the number
    assert "查看明文" in body
    assert [e.action for e in response.context["trail"]] == ["member.create"]


def test_reveal_returns_plaintext_and_writes_an_audit_row(
    bob_client: Client, bob: User, people: dict[str, Member]
) -> None:
    member = people["wangwu"]
    response = bob_client.post(
        f"/console/members/{member.pk}/reveal/",
        {"field": "id_number", "reason": "核实会员身份"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert member.reveal_id_number() in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    event = AuditEvent.objects.get(action="member.pii_reveal")
    assert event.actor_id == bob.pk
    assert event.object_type == "members.member" and event.object_id == str(member.pk)
    assert event.details == {"field": "id_number", "reason": "核实会员身份"}
    # The trail on the page shows the reveal.
    trail = bob_client.get(f"/console/members/{member.pk}/").context["trail"]
    assert trail[0].action == "member.pii_reveal"


def test_reveal_without_javascript_renders_the_page(bob_client: Client, people: dict[str, Member]) -> None:
    member = people["wangwu"]
    response = bob_client.post(f"/console/members/{member.pk}/reveal/", {"field": "id_number", "reason": ""})
    assert response.status_code == 200
    body = response.content.decode()
    assert member.reveal_id_number() in body
    assert "1988" in body  # the birth year; the full date is only inside the revealed number


def test_reveal_needs_post(bob_client: Client, people: dict[str, Member]) -> None:
    assert bob_client.get(f"/console/members/{people['wangwu'].pk}/reveal/").status_code == 405


@pytest.mark.parametrize("persona", ["sam", "erin"])
def test_staff_and_auditor_cannot_reveal(request: Any, persona: str, people: dict[str, Member]) -> None:
    user: User = request.getfixturevalue(persona)
    client = console_client(user)
    member = people["wangwu"]
    page = client.get(f"/console/members/{member.pk}/")
    assert page.status_code == 200
    assert ">查看明文</button>" not in page.content.decode()
    response = client.post(f"/console/members/{member.pk}/reveal/", {"field": "id_number"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 404
    assert member.reveal_id_number() not in response.content.decode()
    assert not AuditEvent.objects.filter(action="member.pii_reveal").exists()


def test_staff_sees_no_audit_trail(sam: User, people: dict[str, Member]) -> None:
    response = console_client(sam).get(f"/console/members/{people['wangwu'].pk}/")
    assert response.context["trail"] == []
    assert "需要审计权限" in response.content.decode()


def test_edit_goes_through_the_action(bob_client: Client, bob: User, people: dict[str, Member]) -> None:
    member = people["zhangsan"]
    page = bob_client.get(f"/console/members/{member.pk}/edit/")
    assert page.status_code == 200
    data = {
        "name": "张叁",
        "mobile": "13699990000",
        "ethnicity": "汉族",
        "employment_status": "flexible",
        "new_employment_group": "courier",
        "is_migrant_worker": "on",
        "workplace": "天河快递站",
        "join_date": "2021-03-01",
        "education": "",
        "political_status": "",
        "household_type": "",
        "skill_level": "",
        "bank_name": "",
    }
    response = bob_client.post(f"/console/members/{member.pk}/edit/", data)
    assert response.status_code == 302
    member.refresh_from_db()
    assert (member.name, member.name_initials, member.mobile) == ("张叁", "zs", "13699990000")
    assert member.is_migrant_worker and member.new_employment_group == "courier"
    event = AuditEvent.objects.filter(action="member.update").get()
    assert event.actor_id == bob.pk
    assert event.details["changes"]["mobile"] == ["136****0001", "136****0000"]


def test_edit_shows_errors_inline(bob_client: Client, people: dict[str, Member]) -> None:
    member = people["zhangsan"]
    response = bob_client.post(
        f"/console/members/{member.pk}/edit/", {"name": "", "mobile": "12345", "employment_status": "employed"}
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert "请输入正确的 11 位手机号" in body
    assert 'aria-invalid="true"' in body


def test_auditor_cannot_edit(erin: User, people: dict[str, Member]) -> None:
    assert console_client(erin).get(f"/console/members/{people['zhangsan'].pk}/edit/").status_code == 404
