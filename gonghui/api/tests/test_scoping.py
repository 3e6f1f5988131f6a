"""A Tianhe cadre (bob) cannot reach anything in Nanshan (charlie's district): 404."""

from __future__ import annotations

from typing import Any

import pytest

from gonghui.conftest import Tree, make_org, new_id_number
from gonghui.core.models import AuditEvent
from gonghui.members.models import Member
from gonghui.orgs.models import Org, OrgStatus

from .conftest import Api


def _assert_not_found(response: Any) -> None:
    assert response.status_code == 404, response.content
    assert response.json() == {"code": "NOT_FOUND", "message": "对象不存在"}


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("GET", "/children", None),
        ("POST", "/children", {"level": "grassroots", "name": "越权新建工会"}),
        ("PATCH", "", {"name": "越权改名"}),
        ("POST", "/close", {"reason": "越权撤销"}),
    ],
)
def test_org_endpoints_hide_other_district(bob_api: Api, tree: Tree, method: str, suffix: str, body: dict) -> None:
    _assert_not_found(bob_api.call(method, f"/api/v1/orgs/{tree.nanshan_street.pk}{suffix}", body))
    nanshan_street = Org.objects.get(pk=tree.nanshan_street.pk)
    assert nanshan_street.name == "南山区粤海街道总工会"
    assert nanshan_street.status == OrgStatus.ACTIVE
    assert nanshan_street.numchild == 1


def test_move_of_other_districts_org_is_404(bob_api: Api, tree: Tree) -> None:
    _assert_not_found(bob_api.post(f"/api/v1/orgs/{tree.nanshan_street.pk}/move", {"new_parent_id": tree.tianhe.pk}))
    assert Org.objects.get(pk=tree.nanshan_street.pk).path.startswith(tree.nanshan.path)


def test_move_under_other_districts_org_is_404(bob_api: Api, tree: Tree) -> None:
    _assert_not_found(bob_api.post(f"/api/v1/orgs/{tree.tianhe_street.pk}/move", {"new_parent_id": tree.nanshan.pk}))
    assert Org.objects.get(pk=tree.tianhe_street.pk).path.startswith(tree.tianhe.path)


def test_org_list_never_shows_other_district(bob_api: Api, tree: Tree) -> None:
    body = bob_api.get("/api/v1/orgs", {"limit": 200}).json()
    names = {item["name"] for item in body["items"]}
    assert names == {"天河区总工会", "天河区石牌街道总工会", "广州天河软件园有限公司工会"}
    assert body["count"] == 3


def test_org_list_parent_filter_outside_scope_is_404(bob_api: Api, tree: Tree) -> None:
    _assert_not_found(bob_api.get("/api/v1/orgs", {"parent": tree.nanshan.pk}))


def test_industry_parent_outside_scope_is_refused(bob_api: Api, tree: Tree) -> None:
    industry = make_org(tree.shenzhen, "industry", "深圳市电子产业工会")
    response = bob_api.patch(f"/api/v1/orgs/{tree.tianhe_union.pk}", {"industry_parent_id": industry.pk})
    assert response.status_code == 400
    assert response.json()["code"] == "ORG_BAD_INDUSTRY_PARENT"


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("PATCH", "", {"workplace": "越权修改"}),
        ("POST", "/reveal", {"field": "id_number", "reason": "越权查看"}),
    ],
)
def test_member_endpoints_hide_other_district(
    bob_api: Api, nanshan_member: Member, method: str, suffix: str, body: dict
) -> None:
    before = AuditEvent.objects.count()
    _assert_not_found(bob_api.call(method, f"/api/v1/members/{nanshan_member.pk}{suffix}", body))
    assert Member.objects.get(pk=nanshan_member.pk).workplace == ""
    assert AuditEvent.objects.count() == before


def test_member_list_org_filter_outside_scope_is_404(bob_api: Api, tree: Tree, nanshan_member: Member) -> None:
    _assert_not_found(bob_api.get("/api/v1/members", {"org": tree.nanshan_union.pk}))


def test_member_list_never_shows_other_district(bob_api: Api, nanshan_member: Member, tianhe_member: Member) -> None:
    ids = [item["id"] for item in bob_api.get("/api/v1/members").json()["items"]]
    assert ids == [tianhe_member.pk]
    # Not even through an exact search that would hit the other district's member.
    assert bob_api.get("/api/v1/members", {"q": "13712345678"}).json()["items"] == []


def test_create_member_in_other_district_is_404(bob_api: Api, tree: Tree) -> None:
    response = bob_api.post(
        "/api/v1/members", {"org_id": tree.nanshan_union.pk, "name": "越权会员", "id_number": new_id_number("440305")}
    )
    _assert_not_found(response)
    assert not Member.objects.filter(name="越权会员").exists()


def test_charlie_reaches_his_own_district(charlie_api: Api, tree: Tree, nanshan_member: Member) -> None:
    assert charlie_api.get(f"/api/v1/orgs/{tree.nanshan_street.pk}").status_code == 200
    assert charlie_api.get(f"/api/v1/members/{nanshan_member.pk}").status_code == 200
