"""The tree browser, the union record, and changes to the tree through orgs.actions."""

from __future__ import annotations

from typing import Any

from django.test import Client

from gonghui.conftest import Tree, console_client, make_member, make_org
from gonghui.core import uscc
from gonghui.core.access import RoleKind
from gonghui.core.models import AuditEvent, User
from gonghui.members.models import Member, MemberStatus
from gonghui.orgs.models import Org, OrgLevel, OrgStatus, Role


def test_tree_starts_at_the_grant_roots_with_subtree_member_counts(
    bob_client: Client, tree: Tree, tianhe_member: Member
) -> None:
    make_member(tree.tianhe_street, "街道会员")
    response = bob_client.get("/console/orgs/")
    assert response.status_code == 200
    roots = response.context["roots"]
    assert [(r["org"].name, r["members"]) for r in roots] == [("天河区总工会", 2)]
    body = response.content.decode()
    assert "深圳" not in body and "广州市总工会" not in body


def test_children_load_lazily_with_one_aggregate_per_level(
    bob_client: Client, tree: Tree, django_assert_max_num_queries: Any
) -> None:
    make_member(tree.tianhe_union, "甲")
    make_member(tree.tianhe_union, "乙")
    left = make_member(tree.tianhe_street, "丙")
    Member.objects.filter(pk=left.pk).update(status=MemberStatus.LEFT)
    for i in range(5):
        make_org(tree.tianhe_street, OrgLevel.GRASSROOTS, f"天河第{i}公司工会")
    bob_client.get("/console/")  # session write out of the way
    # session, user, device, roles, the parent, its children, one GROUP BY for all counts
    with django_assert_max_num_queries(7):
        response = bob_client.get(f"/console/orgs/{tree.tianhe_street.pk}/children/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    nodes = response.context["nodes"]
    assert (nodes[0]["org"].name, nodes[0]["members"]) == ("广州天河软件园有限公司工会", 2)
    assert len(nodes) == 6
    body = response.content.decode()
    assert "<html" not in body and "基层工会" in body


def test_children_without_htmx_redirect_to_the_record(bob_client: Client, tree: Tree) -> None:
    response = bob_client.get(f"/console/orgs/{tree.tianhe.pk}/children/")
    assert response.status_code == 302
    assert response["Location"] == f"/console/orgs/{tree.tianhe.pk}/#children"


def test_search_by_name_pinyin_and_initials_within_scope(bob_client: Client, tree: Tree, charlie: User) -> None:
    for q in ("软件园", "gzthrjy", "guangzhoutianhe"):
        results = bob_client.get("/console/orgs/", {"q": q}).context["results"]
        assert [r["org"].name for r in results] == ["广州天河软件园有限公司工会"], q
        assert results[0]["parent"] == "天河区石牌街道总工会"
    assert bob_client.get("/console/orgs/", {"q": "南山"}).context["results"] == []
    assert bob_client.get("/console/orgs/", {"q": "szns"}).context["results"] == []


def test_detail_shows_fields_children_roles_and_recent_events(bob_client: Client, bob: User, tree: Tree) -> None:
    response = bob_client.get(f"/console/orgs/{tree.tianhe.pk}/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "天河区总工会" in body and "440106" in body
    assert "天河区石牌街道总工会" in body  # a child
    assert [r.user for r in response.context["roles"]] == [bob]
    assert [e.action for e in response.context["events"]] == ["org.create"]
    # Bob's grant is on Tianhe: the parents are shown as names, not links.
    crumbs = response.context["crumbs"]
    assert [(c["org"].name, c["linked"]) for c in crumbs] == [("广东省总工会", False), ("广州市总工会", False)]
    assert not response.context["can_close"]  # closing Tianhe is for Guangzhou's cadres
    assert response.context["can_move"]


def test_create_child_offers_only_allowed_levels(bob_client: Client, tree: Tree) -> None:
    form = bob_client.get(f"/console/orgs/{tree.tianhe_street.pk}/new/").context["form"]
    assert {value for value, _label in form.fields["level"].choices} == {"grassroots", "federation"}
    code = uscc.make_union_code("440106", 4242)
    response = bob_client.post(
        f"/console/orgs/{tree.tianhe_street.pk}/new/",
        {
            "level": "grassroots",
            "name": "广州石牌物流有限公司工会",
            "uscc": code,
            "theme_color": "#c8161d",
            "employee_count": "120",
            "founded_on": "2019-06-01",
        },
    )
    assert response.status_code == 302
    org = Org.objects.get(name="广州石牌物流有限公司工会")
    assert response["Location"] == f"/console/orgs/{org.pk}/"
    assert org.path.startswith(tree.tianhe_street.path) and org.uscc == code and org.employee_count == 120
    assert AuditEvent.objects.filter(action="org.create", object_id=str(org.pk)).exists()


def test_create_shows_errors_on_their_fields(bob_client: Client, tree: Tree) -> None:
    url = f"/console/orgs/{tree.tianhe_street.pk}/new/"
    base = {"level": "grassroots", "name": "某工会", "theme_color": "#c8161d"}
    response = bob_client.post(url, {**base, "uscc": "91440106MA5CXXXX1X"})
    assert response.status_code == 400
    assert response.context["form"].errors["uscc"]
    # A DomainError from orgs.actions lands on the field its code names.
    response = bob_client.post(url, {**base, "region_code": "4401"})
    assert response.status_code == 400
    assert "行政区划代码应为 6 位数字" in response.context["form"].errors["region_code"][0]
    assert 'aria-invalid="true"' in response.content.decode()
    response = bob_client.post(url, {**base, "level": "city"})
    assert response.status_code == 400
    assert response.context["form"].errors["level"]
    assert not Org.objects.filter(name="某工会").exists()


def test_edit_updates_through_the_action(bob_client: Client, bob: User, tree: Tree) -> None:
    page = bob_client.get(f"/console/orgs/{tree.tianhe_union.pk}/edit/")
    assert page.context["form"]["name"].value() == "广州天河软件园有限公司工会"
    data = {name: value for name, value in page.context["form"].initial.items() if value is not None}
    data.update(chair_name="陈主席", term_start="2024-01-01", term_end="2028-12-31", industry_parent="")
    response = bob_client.post(f"/console/orgs/{tree.tianhe_union.pk}/edit/", data)
    assert response.status_code == 302, response.context["form"].errors if response.context else ""
    tree.tianhe_union.refresh_from_db()
    assert tree.tianhe_union.chair_name == "陈主席"
    event = AuditEvent.objects.get(action="org.update")
    assert event.actor_id == bob.pk and "chair_name" in event.details["changes"]


def test_edit_rejects_term_end_before_start(bob_client: Client, tree: Tree) -> None:
    response = bob_client.post(
        f"/console/orgs/{tree.tianhe_union.pk}/edit/",
        {
            "name": "广州天河软件园有限公司工会",
            "term_start": "2024-01-01",
            "term_end": "2020-01-01",
            "theme_color": "#c8161d",
        },
    )
    assert response.status_code == 400
    assert "任期结束日期不能早于开始日期" in response.context["form"].errors["term_end"][0]


def test_move_subtree_within_scope(bob_client: Client, tree: Tree, tianhe_member: Member) -> None:
    other_street = make_org(tree.tianhe, OrgLevel.STREET, "天河区五山街道总工会")
    page = bob_client.get(f"/console/orgs/{tree.tianhe_union.pk}/move/")
    assert other_street in page.context["candidates"]
    assert tree.tianhe_street not in page.context["candidates"]  # the current parent
    candidates = bob_client.get(f"/console/orgs/{tree.tianhe_union.pk}/move/", {"q": "wushan"}, HTTP_HX_REQUEST="true")
    assert "天河区五山街道总工会" in candidates.content.decode() and "<html" not in candidates.content.decode()

    response = bob_client.post(f"/console/orgs/{tree.tianhe_union.pk}/move/", {"new_parent": other_street.pk})
    assert response.status_code == 302
    tree.tianhe_union.refresh_from_db()
    other_street.refresh_from_db()
    assert tree.tianhe_union.path.startswith(other_street.path)
    tianhe_member.refresh_from_db()
    assert tianhe_member.org_path == tree.tianhe_union.path
    assert AuditEvent.objects.filter(action="org.move").exists()


def test_move_into_own_subtree_is_a_form_error(alice: User, tree: Tree) -> None:
    client = console_client(alice)
    response = client.post(f"/console/orgs/{tree.tianhe_street.pk}/move/", {"new_parent": tree.tianhe_union.pk})
    assert response.status_code == 400
    assert response.context["form"].errors


def test_close_shows_members_to_retain_and_needs_a_reason(alice: User, tree: Tree, tianhe_member: Member) -> None:
    client = console_client(alice)
    page = client.get(f"/console/orgs/{tree.tianhe_union.pk}/close/")
    assert page.context["retained"] == 1
    assert "1 名会员将转入上级工会 天河区石牌街道总工会" in page.content.decode()

    response = client.post(f"/console/orgs/{tree.tianhe_union.pk}/close/", {"reason": ""})
    assert response.status_code == 400
    assert "请填写撤销原因" in response.content.decode()

    response = client.post(f"/console/orgs/{tree.tianhe_union.pk}/close/", {"reason": "单位注销"})
    assert response.status_code == 302
    assert response["Location"] == f"/console/orgs/{tree.tianhe_street.pk}/"
    tree.tianhe_union.refresh_from_db()
    tianhe_member.refresh_from_db()
    assert tree.tianhe_union.status == OrgStatus.CLOSED
    assert (tianhe_member.org_id, tianhe_member.status) == (tree.tianhe_street.pk, MemberStatus.RETAINED)
    assert AuditEvent.objects.get(action="org.close").details["reason"] == "单位注销"


def test_closing_ones_own_grant_org_is_refused(bob_client: Client, tree: Tree) -> None:
    page = bob_client.get(f"/console/orgs/{tree.tianhe.pk}/close/")
    assert page.context["allowed"] is False
    assert "撤销须由上级工会办理" in page.content.decode()
    bob_client.post(f"/console/orgs/{tree.tianhe.pk}/close/", {"reason": "想撤销"})
    tree.tianhe.refresh_from_db()
    assert tree.tianhe.status == OrgStatus.ACTIVE


def test_grant_and_revoke_roles(bob_client: Client, bob: User, tree: Tree, frank: Member) -> None:
    response = bob_client.post(
        f"/console/orgs/{tree.tianhe_union.pk}/roles/", {"identifier": "139 0000 0006", "role": "staff"}
    )
    assert response.status_code == 302
    role = Role.objects.get(org=tree.tianhe_union, role=RoleKind.STAFF)
    assert role.user.mobile == "13900000006" and role.granted_by == bob

    missing = bob_client.post(f"/console/orgs/{tree.tianhe_union.pk}/roles/", {"identifier": "nobody", "role": "staff"})
    assert missing.status_code == 400
    assert "找不到该账号" in missing.content.decode()

    response = bob_client.post(f"/console/roles/{role.pk}/revoke/")
    assert response.status_code == 302
    assert not Role.objects.filter(pk=role.pk).exists()
    assert [e.action for e in AuditEvent.objects.filter(action__startswith="role.").order_by("id")][-2:] == [
        "role.grant",
        "role.revoke",
    ]


def test_cadre_cannot_revoke_own_role(bob_client: Client, bob: User, tree: Tree) -> None:
    role = Role.objects.get(user=bob)
    response = bob_client.post(f"/console/roles/{role.pk}/revoke/", follow=True)
    assert "不能撤销自己的角色" in response.content.decode()
    assert Role.objects.filter(pk=role.pk).exists()


def test_staff_cannot_manage_roles_or_the_auditor_change_orgs(sam: User, erin: User, tree: Tree) -> None:
    assert console_client(sam).get(f"/console/orgs/{tree.tianhe.pk}/roles/").status_code == 404
    assert console_client(sam).get(f"/console/orgs/{tree.tianhe.pk}/edit/").status_code == 200
    assert console_client(erin).get(f"/console/orgs/{tree.tianhe.pk}/edit/").status_code == 404
    assert console_client(erin).get(f"/console/orgs/{tree.tianhe.pk}/").status_code == 200


def test_dashboard_counts_the_subtree(bob_client: Client, tree: Tree, tianhe_member: Member, charlie: User) -> None:
    make_member(tree.nanshan_union, "南山人")
    response = bob_client.get("/console/")
    assert response.status_code == 200
    assert response.context["members_total"] == 1
    assert {row["level"]: row["count"] for row in response.context["levels"]} == {
        "district": 1,
        "street": 1,
        "grassroots": 1,
    }
    assert [item["org"].name for item in response.context["my_orgs"]] == ["天河区总工会"]
