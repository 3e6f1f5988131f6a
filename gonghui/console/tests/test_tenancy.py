"""Every console URL that takes an object id: bob (Tianhe) gets 404 on charlie's Nanshan objects.

A missing object and an object in another district must be indistinguishable, so each
case also compares the answer with the one for an id that does not exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from gonghui.conftest import Tree
from gonghui.core.access import RoleKind
from gonghui.core.models import AuditEvent, User
from gonghui.members.models import Member
from gonghui.orgs.models import Org, OrgStatus, Role

MISSING = 999_999
_CSRF = re.compile(r'("X-CSRFToken": "|name="csrfmiddlewaretoken" value=")[^"]+')


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    url: str  # with {id}
    target: str  # which Nanshan object: org, member, role
    data: dict[str, str]
    htmx: bool = False


CASES = [
    Case("org detail", "get", "/console/orgs/{id}/", "org", {}),
    Case("org children", "get", "/console/orgs/{id}/children/", "org", {}, htmx=True),
    Case("org create form", "get", "/console/orgs/{id}/new/", "org", {}),
    Case(
        "org create",
        "post",
        "/console/orgs/{id}/new/",
        "org",
        {"level": "grassroots", "name": "X 工会", "theme_color": "#c8161d"},
    ),
    Case("org edit form", "get", "/console/orgs/{id}/edit/", "org", {}),
    Case("org edit", "post", "/console/orgs/{id}/edit/", "org", {"name": "改名", "theme_color": "#c8161d"}),
    Case("org move form", "get", "/console/orgs/{id}/move/", "org", {}),
    Case("org move candidates", "get", "/console/orgs/{id}/move/?q=t", "org", {}, htmx=True),
    Case("org move", "post", "/console/orgs/{id}/move/", "org", {"new_parent": "TIANHE"}),
    Case("org close form", "get", "/console/orgs/{id}/close/", "org", {}),
    Case("org close", "post", "/console/orgs/{id}/close/", "org", {"reason": "单位注销"}),
    Case("org branding form", "get", "/console/orgs/{id}/branding/", "org", {}),
    Case(
        "org branding",
        "post",
        "/console/orgs/{id}/branding/",
        "org",
        {"theme_color": "#1552c6", "intro": "改了", "clear_logo": "on"},
    ),
    Case("org roles", "get", "/console/orgs/{id}/roles/", "org", {}),
    Case("role grant", "post", "/console/orgs/{id}/roles/", "org", {"identifier": "bob", "role": "admin"}),
    Case("role revoke", "post", "/console/roles/{id}/revoke/", "role", {}),
    Case("second factor reset", "post", "/console/roles/{id}/reset-second-factor/", "role", {"reason": "手机丢失"}),
    Case("member list org filter", "get", "/console/members/?org={id}", "org", {}),
    Case("member count org filter", "get", "/console/members/count/?org={id}", "org", {}, htmx=True),
    Case("member detail", "get", "/console/members/{id}/", "member", {}),
    Case("member edit form", "get", "/console/members/{id}/edit/", "member", {}),
    Case(
        "member edit",
        "post",
        "/console/members/{id}/edit/",
        "member",
        {"name": "改名", "employment_status": "employed", "join_date": "2020-01-01"},
    ),
    Case("member reveal", "post", "/console/members/{id}/reveal/", "member", {"field": "id_number", "reason": "x"}),
]


def _call(client: Client, case: Case, object_id: int, tree: Tree) -> tuple[int, str]:
    url = case.url.format(id=object_id)
    data = {k: (str(tree.tianhe_street.pk) if v == "TIANHE" else v) for k, v in case.data.items()}
    extra = {"HTTP_HX_REQUEST": "true"} if case.htmx else {}
    response = client.post(url, data, **extra) if case.method == "post" else client.get(url, **extra)
    return response.status_code, _CSRF.sub(r"\1…", response.content.decode())


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bob_gets_404_on_nanshan_objects(
    case: Case, tree: Tree, bob_client: Client, charlie: User, nanshan_member: Member
) -> None:
    role = Role.objects.get(user=charlie, org=tree.nanshan, role=RoleKind.ADMIN)
    objects: dict[str, int] = {"org": tree.nanshan_union.pk, "member": nanshan_member.pk, "role": role.pk}
    if case.name.startswith("org close") or case.name.startswith("org move"):
        objects["org"] = tree.nanshan_street.pk
    events_before = AuditEvent.objects.count()

    status, body = _call(bob_client, case, objects[case.target], tree)
    assert status == 404, body[:300]
    for secret in ("南山", "李南山", nanshan_member.id_number_masked):
        assert secret not in body

    missing_status, missing_body = _call(bob_client, case, MISSING, tree)
    assert missing_status == 404
    assert body == missing_body.replace(str(MISSING), str(objects[case.target]))

    # Nothing happened to charlie's district.
    assert AuditEvent.objects.count() == events_before
    nanshan_member.refresh_from_db()
    assert nanshan_member.name == "李南山"
    assert Role.objects.filter(pk=role.pk).exists()
    assert Org.objects.get(pk=tree.nanshan_street.pk).status == OrgStatus.ACTIVE
    nanshan_union = Org.objects.get(pk=tree.nanshan_union.pk)
    assert (nanshan_union.name, nanshan_union.theme_color, nanshan_union.intro) == (
        "深圳南山科技有限公司工会",
        "#c8161d",
        "",
    )
    assert TOTPDevice.objects.filter(user=charlie).exists()


def test_charlie_reaches_his_own_objects(tree: Tree, charlie_client: Client, nanshan_member: Member) -> None:
    assert charlie_client.get(f"/console/orgs/{tree.nanshan_union.pk}/").status_code == 200
    assert charlie_client.get(f"/console/members/{nanshan_member.pk}/").status_code == 200


def test_bob_cannot_move_his_street_under_nanshan(tree: Tree, bob_client: Client, charlie: User) -> None:
    response = bob_client.post(
        f"/console/orgs/{tree.tianhe_union.pk}/move/", {"new_parent": str(tree.nanshan_street.pk)}
    )
    assert response.status_code == 400
    assert "找不到该组织" in response.content.decode()
    tree.tianhe_union.refresh_from_db()
    assert tree.tianhe_union.path.startswith(tree.tianhe.path)


def test_the_404_page_lists_nothing_of_the_other_district(
    tree: Tree, bob_client: Client, nanshan_member: Member
) -> None:
    body = bob_client.get(f"/console/members/{nanshan_member.pk}/").content.decode()
    assert "页面不存在" in body
    assert "不在您的管辖范围内" in body
