"""The members endpoints: masked records, search, create with ID checks, reveal."""

from __future__ import annotations

import json
from datetime import date

from gonghui.conftest import Tree, console_client, make_member, new_id_number
from gonghui.core import idnumbers
from gonghui.core.models import AuditEvent, User
from gonghui.members.models import Member

from .conftest import Api


def _bad_check_char(number: str) -> str:
    # Never a wrong "0": a sequence ending in "00" would then end in "000" and read as
    # Excel precision loss (ID_PRECISION_LOSS), not a bad check char.
    wrong = next(c for c in "123456789X" if c != number[-1])
    return number[:-1] + wrong


def _excel_truncated() -> str:
    """A number whose last three digits Excel zeroed, so the check char fails."""
    for seq in range(1000):
        number = idnumbers.make("440106", date(1988, 8, 8), seq)
        truncated = number[:15] + "000"
        if idnumbers.check_char(truncated[:17]) != "0":
            return truncated
    raise AssertionError("no sample")


def test_create_member(bob: User, bob_api: Api, tree: Tree) -> None:
    number = new_id_number("440106", date(1992, 3, 4))
    response = bob_api.post(
        "/api/v1/members",
        {
            "org_id": tree.tianhe_union.pk,
            "name": "张小红",
            "id_number": " " + number.lower() + " ",
            "mobile": "+86 139-1234-5678",
            "education": "bachelor",
            "join_date": "2024-05-01",
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["id_number_masked"] == number[:6] + "********" + number[-4:]
    assert body["mobile_masked"] == "139****5678"
    assert (body["education"], body["join_date"]) == ("bachelor", "2024-05-01")
    assert body["org_name"] == "广州天河软件园有限公司工会"
    assert number not in response.content.decode()
    assert "birth_date" not in body  # with the mask it would give the whole number back
    member = Member.objects.get(pk=body["id"])
    assert member.reveal_id_number() == number
    assert AuditEvent.objects.get(action="member.create", object_id=str(member.pk)).actor_id == bob.pk


def test_create_with_bad_check_char_returns_its_code(bob_api: Api, tree: Tree) -> None:
    response = bob_api.post(
        "/api/v1/members",
        {"org_id": tree.tianhe_union.pk, "name": "张三", "id_number": _bad_check_char(new_id_number())},
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "ID_BAD_CHECK_CHAR"
    assert body["message"]
    assert not Member.objects.exists()


def test_create_with_excel_truncated_number_says_precision_loss(bob_api: Api, tree: Tree) -> None:
    response = bob_api.post(
        "/api/v1/members", {"org_id": tree.tianhe_union.pk, "name": "张三", "id_number": _excel_truncated()}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "ID_PRECISION_LOSS"


def test_create_with_bad_mobile_returns_its_code(bob_api: Api, tree: Tree) -> None:
    response = bob_api.post(
        "/api/v1/members",
        {"org_id": tree.tianhe_union.pk, "name": "张三", "id_number": new_id_number(), "mobile": "12345"},
    )
    assert response.status_code == 400
    assert response.json()["code"].startswith("MOBILE_")


def test_duplicate_person_is_409_member_exists(bob_api: Api, tree: Tree, nanshan_member: Member) -> None:
    number = nanshan_member.reveal_id_number()
    response = bob_api.post("/api/v1/members", {"org_id": tree.tianhe_union.pk, "name": "李南山", "id_number": number})
    assert response.status_code == 409
    assert response.json()["code"] == "MEMBER_EXISTS"
    assert Member.objects.count() == 1


def test_list_never_contains_plaintext_personal_data(alice_api: Api, tree: Tree) -> None:
    members = [make_member(tree.tianhe_union, f"会员{i}", mobile=f"1380013{i:04d}") for i in range(5)]
    response = alice_api.get("/api/v1/members", {"limit": 100})
    text = response.content.decode()
    assert len(response.json()["items"]) == 5
    for member in members:
        assert member.reveal_id_number() not in text
        assert member.reveal_id_number()[6:14] not in text  # not even the birth date digits
        assert member.mobile not in text
    detail = alice_api.get(f"/api/v1/members/{members[0].pk}").content.decode()
    assert members[0].reveal_id_number() not in detail
    assert members[0].mobile not in detail


def test_search_follows_console_rules(bob_api: Api, tree: Tree) -> None:
    zhang = make_member(tree.tianhe_union, "张伟", mobile="13811112222")
    zhao = make_member(tree.tianhe_union, "赵薇", mobile="13833334444")

    def found(q: str) -> list[int]:
        return [m["id"] for m in bob_api.get("/api/v1/members", {"q": q}).json()["items"]]

    assert found(zhang.reveal_id_number()) == [zhang.pk]  # exact, through the blind index
    assert found(" " + zhang.reveal_id_number().lower()) == [zhang.pk]  # normalised first
    assert found("13833334444") == [zhao.pk]  # mobile
    assert found("zw") == [zhao.pk, zhang.pk]  # initials: zhang wei, zhao wei
    assert found("ZhangW") == [zhang.pk]  # full pinyin prefix
    assert found("赵") == [zhao.pk]  # name prefix
    assert found("13800000000") == []


def test_list_filters_by_org_and_status(bob_api: Api, tree: Tree) -> None:
    in_union = make_member(tree.tianhe_union, "甲")
    at_street = make_member(tree.tianhe_street, "乙")

    def ids(**params: object) -> list[int]:
        return [m["id"] for m in bob_api.get("/api/v1/members", params).json()["items"]]

    assert ids(org=tree.tianhe_street.pk) == [at_street.pk, in_union.pk]
    assert ids(org=tree.tianhe_street.pk, subtree="false") == [at_street.pk]
    assert ids(status="retained") == []
    assert ids(status="active") == [at_street.pk, in_union.pk]


def test_keyset_pages_walk_every_member_once(bob_api: Api, tree: Tree) -> None:
    created = [make_member(tree.tianhe_union, f"会员{i}").pk for i in range(7)]
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, object] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        body = bob_api.get("/api/v1/members", params).json()
        seen += [m["id"] for m in body["items"]]
        pages += 1
        cursor = body["next"]
        if cursor is None:
            break
    assert seen == sorted(created, reverse=True)
    assert pages == 3
    assert bob_api.get("/api/v1/members", {"limit": 101}).status_code == 422


def test_bad_cursor_is_400(bob_api: Api, tree: Tree) -> None:
    response = bob_api.get("/api/v1/members", {"cursor": "not-a-cursor"})
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_CURSOR"


def test_update_member(bob: User, bob_api: Api, tianhe_member: Member) -> None:
    response = bob_api.patch(
        f"/api/v1/members/{tianhe_member.pk}", {"workplace": "天河软件园", "mobile": "13900001111", "ethnicity": None}
    )
    assert response.status_code == 200, response.content
    assert response.json()["mobile_masked"] == "139****1111"
    tianhe_member.refresh_from_db()
    assert (tianhe_member.workplace, tianhe_member.mobile, tianhe_member.ethnicity) == ("天河软件园", "13900001111", "")
    event = AuditEvent.objects.get(action="member.update", object_id=str(tianhe_member.pk))
    assert "13900001111" not in json.dumps(event.details)  # the audit log keeps the mobile masked too
    assert event.actor_id == bob.pk


def test_update_refuses_null_for_required_fields(bob_api: Api, tianhe_member: Member) -> None:
    response = bob_api.patch(f"/api/v1/members/{tianhe_member.pk}", {"join_date": None})
    assert response.status_code == 400
    assert response.json()["code"] == "MEMBER_FIELD_REQUIRED"


def test_id_number_cannot_be_patched(bob_api: Api, tianhe_member: Member) -> None:
    response = bob_api.patch(f"/api/v1/members/{tianhe_member.pk}", {"id_number": new_id_number()})
    assert response.status_code == 422


def test_reveal_returns_plaintext_and_writes_audit_row(bob: User, bob_api: Api, tianhe_member: Member) -> None:
    response = bob_api.post(
        f"/api/v1/members/{tianhe_member.pk}/reveal", {"field": "id_number", "reason": "核对困难帮扶申请"}
    )
    assert response.status_code == 200, response.content
    assert response.json() == {"field": "id_number", "value": tianhe_member.reveal_id_number()}
    assert response["Cache-Control"] == "no-store"
    event = AuditEvent.objects.get(action="member.pii_reveal")
    assert (event.actor_id, event.object_id) == (bob.pk, str(tianhe_member.pk))
    assert event.details == {"field": "id_number", "reason": "核对困难帮扶申请"}
    assert event.ip == "127.0.0.1"


def test_reveal_needs_a_reason(bob_api: Api, tianhe_member: Member) -> None:
    response = bob_api.post(f"/api/v1/members/{tianhe_member.pk}/reveal", {"field": "id_number", "reason": "  "})
    assert response.status_code == 400
    assert response.json()["code"] == "REVEAL_REASON_REQUIRED"
    assert not AuditEvent.objects.filter(action="member.pii_reveal").exists()


def test_reveal_without_reveal_right_is_404(erin: User, tianhe_member: Member) -> None:
    api = Api(console_client(erin))  # auditor: may view the member, may not unmask
    assert api.get(f"/api/v1/members/{tianhe_member.pk}").status_code == 200
    response = api.post(f"/api/v1/members/{tianhe_member.pk}/reveal", {"field": "id_number", "reason": "好奇"})
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"
    assert not AuditEvent.objects.filter(action="member.pii_reveal").exists()
