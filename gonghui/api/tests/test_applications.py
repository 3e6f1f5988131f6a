"""``/api/v1/applications``: the applicant applies; cadres list, approve and reject (scoped)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from gonghui.conftest import Tree, make_member, new_id_number
from gonghui.core.models import AuditEvent, User
from gonghui.members import joining
from gonghui.members.models import Application, ApplicationStatus, Member

from .conftest import Api

MOBILE = "13744445555"


@pytest.fixture
def applicant(db: Any) -> User:
    return User.objects.create_user(MOBILE, mobile=MOBILE)


@pytest.fixture
def applicant_api(applicant: User) -> Api:
    client = Client()
    client.force_login(applicant)
    return Api(client)


def body(org_id: int, id_number: str | None = None, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "org_id": org_id,
        "name": "孙申请",
        "id_number": id_number or new_id_number(),
        "mobile": MOBILE,
        "workplace": "广州天河软件园有限公司",
        "employment_status": "employed",
        "new_employment_group": "food_delivery",
        "consent": True,
    }
    values.update(overrides)
    return values


@pytest.fixture
def pending(tree: Tree, applicant: User) -> Application:
    data = joining.ApplicationInput(name="孙申请", id_number=new_id_number(), mobile=MOBILE)
    return joining.apply_for_membership(applicant, tree.tianhe_union, data, consent=True)


def test_an_applicant_applies_with_their_session(applicant_api: Api, tree: Tree) -> None:
    id_number = new_id_number()
    response = applicant_api.post("/api/v1/applications", body(tree.tianhe_union.pk, id_number))
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["status"] == "pending" and data["org_name"] == "广州天河软件园有限公司工会"
    assert data["id_number_masked"] == id_number[:6] + "********" + id_number[-4:]
    assert data["mobile_masked"] == "137****5555"
    assert data["consent_version"] == joining.CONSENT_VERSION
    assert id_number not in response.content.decode() and MOBILE not in response.content.decode()
    assert data["new_employment_group"] == "food_delivery"


def test_apply_needs_a_login(tree: Tree) -> None:
    response = Api(Client()).post("/api/v1/applications", body(tree.tianhe_union.pk))
    assert response.status_code == 401 and response.json()["code"] == "AUTH_REQUIRED"


def test_apply_checks_csrf(applicant: User, tree: Tree) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(applicant)
    response = Api(client).post("/api/v1/applications", body(tree.tianhe_union.pk))
    assert response.status_code == 403 and response.json()["code"] == "CSRF_FAILED"
    assert not Application.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "code"),
    [({"consent": False}, "CONSENT_REQUIRED"), ({"mobile": "13900001111"}, "MOBILE_NOT_VERIFIED")],
)
def test_apply_errors_carry_codes(applicant_api: Api, tree: Tree, overrides: dict[str, Any], code: str) -> None:
    response = applicant_api.post("/api/v1/applications", body(tree.tianhe_union.pk, **overrides))
    assert response.status_code == 400 and response.json()["code"] == code


def test_a_member_elsewhere_gets_member_elsewhere_with_the_union_and_transfer(applicant_api: Api, tree: Tree) -> None:
    id_number = new_id_number("440305")
    make_member(tree.nanshan_union, "孙申请", id_number=id_number)
    response = applicant_api.post("/api/v1/applications", body(tree.tianhe_union.pk, id_number))
    assert response.status_code == 409
    error = response.json()
    assert error["code"] == "MEMBER_ELSEWHERE"
    assert "深圳南山科技有限公司工会" in error["message"] and "转会" in error["message"]
    assert error["details"] == {"org_name": "深圳南山科技有限公司工会", "transfer": True}


def test_a_second_pending_application_is_409(applicant_api: Api, tree: Tree) -> None:
    id_number = new_id_number()
    assert applicant_api.post("/api/v1/applications", body(tree.tianhe_union.pk, id_number)).status_code == 201
    response = applicant_api.post("/api/v1/applications", body(tree.tianhe_street.pk, id_number))
    assert response.status_code == 409 and response.json()["code"] == "APPLICATION_PENDING"


def test_apply_to_an_unknown_union_is_404(applicant_api: Api, tree: Tree) -> None:
    response = applicant_api.post("/api/v1/applications", body(999999))
    assert response.status_code == 404


def test_a_plain_account_cannot_read_the_queue(applicant_api: Api, pending: Application) -> None:
    response = applicant_api.get("/api/v1/applications")
    assert response.status_code == 403 and response.json()["code"] == "CADRE_REQUIRED"


def test_the_queue_is_scoped_and_paginated(bob_api: Api, charlie_api: Api, tree: Tree) -> None:
    for i in range(3):
        mobile = f"1374444000{i}"
        user = User.objects.create_user(mobile, mobile=mobile)
        data = joining.ApplicationInput(name=f"排队{i}", id_number=new_id_number(), mobile=mobile)
        joining.apply_for_membership(user, tree.tianhe_union, data, consent=True)
    first = bob_api.get("/api/v1/applications", {"limit": 2}).json()
    assert [item["name"] for item in first["items"]] == ["排队2", "排队1"]
    second = bob_api.get("/api/v1/applications", {"limit": 2, "cursor": first["next"]}).json()
    assert [item["name"] for item in second["items"]] == ["排队0"] and second["next"] is None
    assert charlie_api.get("/api/v1/applications").json()["items"] == []
    response = charlie_api.get("/api/v1/applications", {"org": tree.tianhe_union.pk})
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("method", "suffix", "payload"),
    [("GET", "", None), ("POST", "/approve", None), ("POST", "/reject", {"reason": "越权驳回"})],
)
def test_another_districts_application_is_404(
    charlie_api: Api, pending: Application, method: str, suffix: str, payload: dict[str, Any] | None
) -> None:
    response = charlie_api.call(method, f"/api/v1/applications/{pending.pk}{suffix}", payload)
    assert response.status_code == 404
    assert response.json() == {"code": "NOT_FOUND", "message": "对象不存在"}
    pending.refresh_from_db()
    assert pending.status == ApplicationStatus.PENDING
    assert not Member.objects.exists()


def test_approve_issues_the_card_and_a_second_approve_is_409(bob_api: Api, pending: Application) -> None:
    response = bob_api.post(f"/api/v1/applications/{pending.pk}/approve")
    assert response.status_code == 200, response.content
    data = response.json()
    member = Member.objects.get()
    assert data["status"] == "approved" and data["member_id"] == member.pk
    assert data["card_number"] == member.card_number and member.card_number
    again = bob_api.post(f"/api/v1/applications/{pending.pk}/approve")
    assert again.status_code == 409 and again.json()["code"] == "APPLICATION_DECIDED"
    assert Member.objects.count() == 1
    assert AuditEvent.objects.filter(action="application.approve", object_id=str(pending.pk)).count() == 1


def test_reject_needs_a_reason(bob_api: Api, pending: Application) -> None:
    response = bob_api.post(f"/api/v1/applications/{pending.pk}/reject", {"reason": " "})
    assert response.status_code == 400 and response.json()["code"] == "REJECT_REASON_REQUIRED"
    response = bob_api.post(f"/api/v1/applications/{pending.pk}/reject", {"reason": "请由单位工会统一申请"})
    assert response.status_code == 200
    assert response.json()["status"] == "rejected"
    assert response.json()["reject_reason"] == "请由单位工会统一申请"
