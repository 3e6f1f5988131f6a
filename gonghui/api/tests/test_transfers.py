"""/api/v1/transfers and the membership steps on /api/v1/members/{id}/…"""

from __future__ import annotations

from typing import Any

import pytest

from gonghui.api.tests.conftest import Api
from gonghui.conftest import Tree, console_client, make_cadre
from gonghui.core.access import RoleKind
from gonghui.core.models import User
from gonghui.members import transfers
from gonghui.members.models import Member, Transfer


@pytest.fixture
def nina_api(tree: Tree) -> Api:
    return Api(console_client(make_cadre("nina", "妮娜", tree.nanshan_union, RoleKind.CHAIR, "13800000011")))


@pytest.fixture
def dave_api(dave: User) -> Api:
    return Api(console_client(dave))


def test_a_transfer_through_the_api_both_sides(tree: Tree, tianhe_member: Member, bob_api: Api, nina_api: Api) -> None:
    created = bob_api.post(
        "/api/v1/transfers",
        {"member_id": tianhe_member.pk, "to_org_id": tree.nanshan_union.pk, "new_workplace": "深圳南山科技"},
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["status"] == "requested" and body["initiated_by"] == "cadre"
    assert body["id_number_masked"] == tianhe_member.id_number_masked
    tid = body["id"]
    assert [t["id"] for t in bob_api.get("/api/v1/transfers", {"box": "out"}).json()["items"]] == [tid]
    assert nina_api.get("/api/v1/transfers", {"box": "in"}).json()["items"] == []  # not released yet

    assert bob_api.post(f"/api/v1/transfers/{tid}/release").json()["status"] == "released"
    assert [t["id"] for t in nina_api.get("/api/v1/transfers", {"box": "in"}).json()["items"]] == [tid]
    again = bob_api.post(f"/api/v1/transfers/{tid}/release")
    assert again.status_code == 409 and again.json()["code"] == "TRANSFER_WRONG_STATUS"
    wrong_side = bob_api.post(f"/api/v1/transfers/{tid}/accept")
    assert wrong_side.status_code == 400 and wrong_side.json()["code"] == "TRANSFER_NOT_ALLOWED"
    assert nina_api.post(f"/api/v1/transfers/{tid}/accept").json()["status"] == "accepted"

    history = nina_api.get(f"/api/v1/members/{tianhe_member.pk}/history").json()
    assert history["unions"] == [tree.tianhe_union.pk, tree.nanshan_union.pk]
    assert [e["kind"] for e in history["events"]] == ["joined", "transferred"]
    assert history["events"][1]["from_org_name"] == tree.tianhe_union.name
    # The member now belongs to Nanshan: Tianhe no longer sees the record.
    assert bob_api.get(f"/api/v1/members/{tianhe_member.pk}/history").status_code == 404


def test_decline_needs_a_reason(tree: Tree, tianhe_member: Member, bob_api: Api, nina_api: Api) -> None:
    tid = bob_api.post("/api/v1/transfers", {"member_id": tianhe_member.pk, "to_org_id": tree.nanshan_union.pk}).json()[
        "id"
    ]
    bob_api.post(f"/api/v1/transfers/{tid}/release")
    assert nina_api.post(f"/api/v1/transfers/{tid}/decline", {}).status_code == 422
    blank = nina_api.post(f"/api/v1/transfers/{tid}/decline", {"reason": "   "})
    assert blank.json()["code"] == "TRANSFER_DECLINE_REASON_REQUIRED"
    done = nina_api.post(f"/api/v1/transfers/{tid}/decline", {"reason": "未在本单位入职"}).json()
    assert done["status"] == "declined" and done["decline_reason"] == "未在本单位入职"


def test_receiving_side_starts_a_transfer_by_id_number(
    tree: Tree, tianhe_member: Member, nina_api: Api, charlie_api: Api
) -> None:
    id_number = tianhe_member.reveal_id_number()
    made = nina_api.post("/api/v1/transfers", {"id_number": id_number, "to_org_id": tree.nanshan_union.pk})
    assert made.status_code == 201, made.json()
    dup = charlie_api.post("/api/v1/transfers", {"id_number": id_number, "to_org_id": tree.nanshan_street.pk})
    assert dup.status_code == 409 and dup.json()["code"] == "TRANSFER_ALREADY_OPEN"


def test_no_member_given_is_a_coded_error(tree: Tree, bob_api: Api) -> None:
    response = bob_api.post("/api/v1/transfers", {"to_org_id": tree.nanshan_union.pk})
    assert response.status_code == 422 and response.json()["code"] == "MEMBER_REQUIRED"


def test_another_districts_cadre_gets_404(
    tree: Tree, tianhe_member: Member, frank: Member, bob_api: Api, charlie_api: Api
) -> None:
    # Charlie (Nanshan) cannot start a transfer for a Tianhe member by id, nor from Tianhe's side by ID number.
    by_id = charlie_api.post("/api/v1/transfers", {"member_id": tianhe_member.pk, "to_org_id": tree.tianhe_street.pk})
    assert by_id.status_code == 404
    by_number = charlie_api.post(
        "/api/v1/transfers", {"id_number": tianhe_member.reveal_id_number(), "to_org_id": tree.tianhe_street.pk}
    )
    assert by_number.status_code == 404
    assert frank.user is not None
    inside = transfers.request_transfer(actor=frank.user, member=frank, to_org=tree.tianhe_street)
    for path in ("", "/release", "/accept", "/cancel"):
        method = "GET" if not path else "POST"
        assert charlie_api.call(method, f"/api/v1/transfers/{inside.pk}{path}").status_code == 404, path
    assert charlie_api.post(f"/api/v1/transfers/{inside.pk}/decline", {"reason": "x"}).status_code == 404
    assert charlie_api.get("/api/v1/transfers", {"box": "out"}).json()["items"] == []
    for step, body in (("retain", {"reason": "retired"}), ("restore", {}), ("leave", {})):
        assert charlie_api.post(f"/api/v1/members/{tianhe_member.pk}/{step}", body).status_code == 404
    assert charlie_api.get(f"/api/v1/members/{tianhe_member.pk}/history").status_code == 404
    assert Transfer.objects.get(pk=inside.pk).status == "requested"


def test_retain_restore_leave(tianhe_member: Member, bob_api: Api) -> None:
    path = f"/api/v1/members/{tianhe_member.pk}"
    retained = bob_api.post(f"{path}/retain", {"reason": "retired", "note": "退休"}).json()
    assert retained["status"] == "retained" and retained["has_vote"] is False
    assert bob_api.post(f"{path}/retain", {"reason": "retired"}).json()["code"] == "MEMBER_NOT_ACTIVE"
    assert bob_api.post(f"{path}/retain", {"reason": "union_closed"}).status_code == 422
    assert bob_api.post(f"{path}/restore", {}).json()["status"] == "active"
    expelled = bob_api.post(f"{path}/leave", {"reason": "expelled"})
    assert expelled.json()["code"] == "LEAVE_NOTE_REQUIRED"
    left = bob_api.post(f"{path}/leave", {"reason": "voluntary"}).json()
    assert left["status"] == "left" and left["leave_reason"] == "voluntary"
    kinds = [e["kind"] for e in bob_api.get(f"{path}/history").json()["events"]]
    assert kinds == ["joined", "retained", "restored", "left"]


def test_auditor_may_read_history_but_not_act(tianhe_member: Member, erin: User) -> None:
    api = Api(console_client(erin))
    assert api.get(f"/api/v1/members/{tianhe_member.pk}/history").status_code == 200
    refused: Any = api.post(f"/api/v1/members/{tianhe_member.pk}/retain", {"reason": "retired"})
    assert refused.status_code == 400 and refused.json()["code"] == "MEMBER_ACTION_NOT_ALLOWED"
