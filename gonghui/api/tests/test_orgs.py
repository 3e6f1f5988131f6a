"""The orgs endpoints: read the tree, create, edit, move and close unions."""

from __future__ import annotations

from gonghui.conftest import Tree, console_client, make_member, make_org
from gonghui.core.models import AuditEvent, User
from gonghui.members.models import Member, MemberStatus
from gonghui.orgs.models import Org, OrgStatus

from .conftest import Api


def test_list_is_in_tree_order_with_parent_ids(bob_api: Api, tree: Tree) -> None:
    body = bob_api.get("/api/v1/orgs").json()
    names = [item["name"] for item in body["items"]]
    assert names == ["天河区总工会", "天河区石牌街道总工会", "广州天河软件园有限公司工会"]
    first, second, _third = body["items"]
    assert first["parent_id"] == tree.guangzhou.pk
    assert second["parent_id"] == tree.tianhe.pk
    assert first["level"] == "district"
    assert first["level_label"] == "县(区)总工会"
    assert first["children_count"] == 1
    assert "path" not in first


def test_list_filters(alice_api: Api, tree: Tree) -> None:
    def names(**params: object) -> list[str]:
        return [item["name"] for item in alice_api.get("/api/v1/orgs", params).json()["items"]]

    assert names(level="district") == ["天河区总工会", "南山区总工会"]
    assert names(parent=tree.province.pk) == ["广州市总工会", "深圳市总工会"]
    assert names(q="thq") == ["天河区总工会", "天河区石牌街道总工会"]  # pinyin initials
    # full pinyin anywhere in the name, any case
    assert names(q="NanShan") == ["南山区总工会", "南山区粤海街道总工会", "深圳南山科技有限公司工会"]
    assert names(q="软件园") == ["广州天河软件园有限公司工会"]  # part of the name
    assert names(status="closed") == []


def test_list_pages_are_bounded(alice_api: Api, tree: Tree) -> None:
    body = alice_api.get("/api/v1/orgs", {"limit": 2, "offset": 2}).json()
    assert body["count"] == 9
    assert (body["limit"], body["offset"]) == (2, 2)
    assert [item["name"] for item in body["items"]] == ["天河区总工会", "天河区石牌街道总工会"]
    assert alice_api.get("/api/v1/orgs", {"limit": 201}).status_code == 422
    assert alice_api.get("/api/v1/orgs", {"offset": 10_001}).status_code == 422


def test_get_and_children(bob_api: Api, tree: Tree) -> None:
    body = bob_api.get(f"/api/v1/orgs/{tree.tianhe_union.pk}").json()
    assert body["id"] == tree.tianhe_union.pk
    assert body["unit_name"] == "广州天河软件园有限公司"
    assert body["parent_id"] == tree.tianhe_street.pk
    children = bob_api.get(f"/api/v1/orgs/{tree.tianhe.pk}/children").json()
    assert [c["id"] for c in children["items"]] == [tree.tianhe_street.pk]
    assert children["count"] == 1


def test_create_child_writes_org_and_audit(bob: User, bob_api: Api, tree: Tree) -> None:
    response = bob_api.post(
        f"/api/v1/orgs/{tree.tianhe_street.pk}/children",
        {
            "level": "grassroots",
            "name": "广州石牌餐饮有限公司工会",
            "unit_type": "private",
            "employee_count": 120,
            "founded_on": "2021-03-01",
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["parent_id"] == tree.tianhe_street.pk
    assert (body["unit_type"], body["employee_count"], body["founded_on"]) == ("private", 120, "2021-03-01")
    org = Org.objects.get(pk=body["id"])
    assert org.path.startswith(tree.tianhe_street.path)
    assert org.name_initials == "gzspcyyxgsgh"
    event = AuditEvent.objects.get(action="org.create", object_id=str(org.pk))
    assert event.actor_id == bob.pk


def test_create_child_with_bad_uscc_returns_its_code(bob_api: Api, tree: Tree) -> None:
    response = bob_api.post(
        f"/api/v1/orgs/{tree.tianhe_street.pk}/children",
        {"level": "grassroots", "name": "错代码工会", "uscc": "81440106MC0000000A"},
    )
    assert response.status_code == 400
    assert response.json()["code"].startswith("USCC_")


def test_update_changes_only_sent_fields(bob_api: Api, tree: Tree) -> None:
    response = bob_api.patch(
        f"/api/v1/orgs/{tree.tianhe_union.pk}", {"chair_name": "陈主席", "address": "天河软件园 1 号"}
    )
    assert response.status_code == 200, response.content
    org = Org.objects.get(pk=tree.tianhe_union.pk)
    assert (org.chair_name, org.address, org.unit_name) == ("陈主席", "天河软件园 1 号", "广州天河软件园有限公司")
    event = AuditEvent.objects.get(action="org.update", object_id=str(org.pk))
    assert set(event.details["changes"]) == {"chair_name", "address"}
    # null clears a text field
    bob_api.patch(f"/api/v1/orgs/{tree.tianhe_union.pk}", {"address": None})
    assert Org.objects.get(pk=tree.tianhe_union.pk).address == ""


def test_update_with_blank_name_is_refused(bob_api: Api, tree: Tree) -> None:
    response = bob_api.patch(f"/api/v1/orgs/{tree.tianhe_union.pk}", {"name": None})
    assert response.status_code == 400
    assert response.json()["code"] == "ORG_NAME_REQUIRED"


def test_move_subtree(bob_api: Api, tree: Tree) -> None:
    other_street = make_org(tree.tianhe, "street", "天河区五山街道总工会")
    member = make_member(tree.tianhe_union)
    response = bob_api.post(f"/api/v1/orgs/{tree.tianhe_union.pk}/move", {"new_parent_id": other_street.pk})
    assert response.status_code == 200, response.content
    assert response.json()["parent_id"] == other_street.pk
    moved = Org.objects.get(pk=tree.tianhe_union.pk)
    assert moved.path.startswith(other_street.path)
    assert Member.objects.get(pk=member.pk).org_path == moved.path


def test_move_into_own_subtree_is_refused(bob_api: Api, tree: Tree) -> None:
    response = bob_api.post(f"/api/v1/orgs/{tree.tianhe_street.pk}/move", {"new_parent_id": tree.tianhe_union.pk})
    assert response.status_code == 400
    assert response.json()["code"] == "ORG_MOVE_INTO_SELF"


def test_close_moves_members_to_parent(bob_api: Api, tree: Tree) -> None:
    member = make_member(tree.tianhe_union)
    response = bob_api.post(f"/api/v1/orgs/{tree.tianhe_union.pk}/close", {"reason": "企业注销"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["members_moved"] == 1
    assert body["org"]["status"] == "closed"
    member.refresh_from_db()
    assert (member.org_id, member.status) == (tree.tianhe_street.pk, MemberStatus.RETAINED)
    assert Org.objects.get(pk=tree.tianhe_union.pk).status == OrgStatus.CLOSED
    assert AuditEvent.objects.get(action="org.close").details["reason"] == "企业注销"
    again = bob_api.post(f"/api/v1/orgs/{tree.tianhe_union.pk}/close", {"reason": "再撤一次"})
    assert again.json()["code"] == "ORG_ALREADY_CLOSED"


def test_close_needs_a_reason(bob_api: Api, tree: Tree) -> None:
    response = bob_api.post(f"/api/v1/orgs/{tree.tianhe_union.pk}/close", {"reason": "   "})
    assert response.status_code == 400
    assert response.json()["code"] == "ORG_CLOSE_REASON_REQUIRED"


def test_auditor_may_read_but_not_change(erin: User, tree: Tree) -> None:
    api = Api(console_client(erin))
    assert api.get(f"/api/v1/orgs/{tree.tianhe.pk}").status_code == 200
    response = api.patch(f"/api/v1/orgs/{tree.tianhe.pk}", {"name": "审计员改名"})
    assert response.status_code == 404
    assert Org.objects.get(pk=tree.tianhe.pk).name == "天河区总工会"
