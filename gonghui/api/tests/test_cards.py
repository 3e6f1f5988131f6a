"""``/api/v1/cards/verify`` and ``/api/v1/me/card``."""

from __future__ import annotations

import time
from typing import Any
from unittest import mock

from django.contrib.auth.models import Group
from django.test import Client, override_settings
from django.utils import timezone

from gonghui.api.tests.conftest import Api
from gonghui.conftest import Tree, console_client
from gonghui.core.models import AuditEvent, User
from gonghui.members import card_tokens
from gonghui.members.models import Member, MemberStatus

VERIFY = "/api/v1/cards/verify"
MY_CARD = "/api/v1/me/card"


def member_api(member: Member) -> Api:
    client = Client()
    assert member.user is not None
    client.force_login(member.user)
    return Api(client)


def fresh_token(member: Member) -> str:
    response = member_api(member).get(MY_CARD)
    assert response.status_code == 200, response.content
    token: str = response.json()["token"]
    return token


def test_member_gets_their_card_with_a_fresh_token(frank: Member) -> None:
    response = member_api(frank).get(MY_CARD)

    body = response.json()
    frank.refresh_from_db()
    assert response.status_code == 200
    assert body["name"] == "范克"
    assert body["union"] == "广州天河软件园有限公司工会"
    assert body["union_id"] == frank.org_id
    assert body["card_number"] == frank.card_number
    assert body["status"] == "active"
    assert body["ttl_seconds"] == 60
    assert body["join_date"] == "2020-05-01"
    assert card_tokens.check(body["token"]).result == "valid"
    assert "id_number" not in " ".join(body)


def test_my_card_needs_login(db: Any) -> None:
    response = Client().get(MY_CARD)

    assert response.status_code == 401
    assert response.json()["code"] == "AUTH_REQUIRED"


def test_my_card_without_a_member_record_is_404(tree: Tree) -> None:
    user = User.objects.create_user("visitor", password="correct-horse-battery", name="访客")
    client = Client()
    client.force_login(user)

    response = client.get(MY_CARD)

    assert response.status_code == 404
    assert response.json()["code"] == "NOT_A_MEMBER"


def test_my_card_after_leaving_is_409(frank: Member) -> None:
    Member.objects.filter(pk=frank.pk).update(status=MemberStatus.LEFT, left_at=timezone.now())

    response = member_api(frank).get(MY_CARD)

    assert response.status_code == 409
    assert response.json()["code"] == "MEMBER_LEFT"


def test_cadre_verifies_a_token_and_sees_masked_values_only(frank: Member, charlie_api: Api) -> None:
    token = fresh_token(frank)

    response = charlie_api.post(VERIFY, {"token": token})

    body = response.json()
    assert response.status_code == 200
    assert body["result"] == "valid"
    assert body["masked_name"] == "范*"
    assert body["union"] == "广州天河软件园有限公司工会"
    assert body["status"] == "active"
    assert body["card_number_masked"].count("*") == 10
    text = response.content.decode()
    assert frank.reveal_id_number() not in text and frank.id_number_masked not in text
    assert AuditEvent.objects.filter(action="card.verify", details__result="valid").count() == 1


def test_garbage_is_a_200_invalid_not_an_error(frank: Member, bob_api: Api) -> None:
    response = bob_api.post(VERIFY, {"token": "not-a-token"})

    assert response.status_code == 200
    assert response.json() == {
        "result": "invalid",
        "masked_name": "",
        "union": "",
        "status": None,
        "card_number_masked": "",
        "issued_at": None,
    }


def test_retained_and_left_members(frank: Member, bob_api: Api) -> None:
    token = fresh_token(frank)
    Member.objects.filter(pk=frank.pk).update(status=MemberStatus.RETAINED)
    assert bob_api.post(VERIFY, {"token": token}).json()["result"] == "retained"

    Member.objects.filter(pk=frank.pk).update(status=MemberStatus.LEFT)
    assert bob_api.post(VERIFY, {"token": token}).json()["result"] == "left"


def test_expired_token(frank: Member, bob_api: Api) -> None:
    token = fresh_token(frank)

    with mock.patch("django.core.signing.time.time", return_value=time.time() + 61):
        body = bob_api.post(VERIFY, {"token": token}).json()

    assert body["result"] == "expired"


def test_members_may_not_verify(frank: Member) -> None:
    response = member_api(frank).post(VERIFY, {"token": "x"})

    assert response.status_code == 403
    assert response.json()["code"] == "CARD_VERIFIER_REQUIRED"


def test_verify_needs_login(db: Any) -> None:
    response = Client().post(VERIFY, {"token": "x"}, content_type="application/json")

    assert response.status_code == 401
    assert response.json()["code"] == "AUTH_REQUIRED"


def test_partner_merchant_may_verify_without_a_console_role(frank: Member) -> None:
    merchant = User.objects.create_user("shop", password="correct-horse-battery", name="商户")
    merchant.groups.add(Group.objects.create(name=card_tokens.VERIFIER_GROUP))
    client = Client()
    client.force_login(merchant)

    response = Api(client).post(VERIFY, {"token": fresh_token(frank)})

    assert response.status_code == 200
    assert response.json()["result"] == "valid"


def test_verify_without_csrf_token_is_refused(frank: Member, bob: User) -> None:
    client = console_client(bob)
    client.handler.enforce_csrf_checks = True

    response = client.post(VERIFY, {"token": "x"}, content_type="application/json")

    assert response.status_code == 403
    assert response.json()["code"] == "CSRF_FAILED"


@override_settings(MEMBER_CARD_VERIFY_PER_MINUTE=2)
def test_verify_is_throttled(frank: Member, bob_api: Api) -> None:
    for _ in range(2):
        assert bob_api.post(VERIFY, {"token": "x"}).status_code == 200

    response = bob_api.post(VERIFY, {"token": "x"})

    assert response.status_code == 429
    assert response.json()["code"] == "CARD_VERIFY_THROTTLED"


def test_empty_token_is_a_validation_error(bob_api: Api) -> None:
    response = bob_api.post(VERIFY, {"token": ""})

    assert response.status_code == 422
    assert response.json()["code"] == "VALIDATION_ERROR"


def test_openapi_documents_the_card_errors(db: Any) -> None:
    doc = Client().get("/api/openapi.json").json()

    verify = doc["paths"]["/api/v1/cards/verify"]["post"]
    card = doc["paths"]["/api/v1/me/card"]["get"]
    assert {"401", "403", "422", "429"} <= set(verify["responses"])
    assert {"401", "404", "409"} <= set(card["responses"])
    assert "CARD_VERIFIER_REQUIRED" in verify["description"]
    assert "NOT_A_MEMBER" in card["description"]
