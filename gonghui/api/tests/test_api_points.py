"""``/api/v1/me/points`` and ``/api/v1/points``: balance, statement, sign-in with an
Idempotency-Key, rules for cadres, grants that require a key and pay once."""

from __future__ import annotations

import pytest
from django.test import Client

from gonghui.conftest import Tree, console_client
from gonghui.core.models import User
from gonghui.members.models import Member
from gonghui.points import ledger, rules
from gonghui.points.models import Entry, RuleKind, SignIn

pytestmark = pytest.mark.django_db


def member_client(member: Member) -> Client:
    client = Client()
    assert member.user is not None
    client.force_login(member.user)
    return client


def test_member_balance_statement_and_sign_in(tree: Tree, frank: Member, alice: User) -> None:
    rules.set_rule(actor=alice, org=tree.province, kind=RuleKind.SIGNIN, values={"points": 2})
    ledger.earn(member=frank, amount=10, key="api:seed", reason="种子")
    client = member_client(frank)
    assert client.get("/api/v1/me/points").json()["balance"] == 10

    first = client.post("/api/v1/me/points/sign-in", HTTP_IDEMPOTENCY_KEY="day-1")
    assert first.status_code == 201
    assert (first.json()["points"], first.json()["balance"], first.json()["replayed"]) == (2, 12, False)
    retry = client.post("/api/v1/me/points/sign-in", HTTP_IDEMPOTENCY_KEY="day-1")
    assert retry.status_code == 200 and retry.json()["replayed"] is True and retry.json()["points"] == 2
    other = client.post("/api/v1/me/points/sign-in", HTTP_IDEMPOTENCY_KEY="day-1-again")
    assert other.status_code == 409 and other.json()["code"] == "ALREADY_SIGNED_IN"
    assert client.post("/api/v1/me/points/sign-in").status_code == 409
    assert SignIn.objects.filter(member=frank).count() == 1 and ledger.balance_of(frank) == 12

    balance = client.get("/api/v1/me/points").json()
    assert balance["signed_in_today"] is True
    page = client.get("/api/v1/me/points/statement?size=1").json()
    assert page["total"] == 2 and page["pages"] == 2
    assert page["items"][0]["kind_label"] == "获得" and page["items"][0]["source_label"] == "积分规则"


def test_a_grant_requires_a_key_and_pays_once(tree: Tree, bob: User, charlie: User, frank: Member) -> None:
    client = console_client(bob)
    body = {"member_id": frank.pk, "amount": 20, "reason": "先进个人"}
    missing = client.post("/api/v1/points/adjust", body, content_type="application/json")
    assert missing.status_code == 400 and missing.json()["code"] == "IDEMPOTENCY_KEY_REQUIRED"
    first = client.post("/api/v1/points/adjust", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="g-1")
    retry = client.post("/api/v1/points/adjust", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="g-1")
    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry.json()["replayed"] is True and retry.json()["entry"]["id"] == first.json()["entry"]["id"]
    reused = client.post(
        "/api/v1/points/adjust", {**body, "amount": 99}, content_type="application/json", HTTP_IDEMPOTENCY_KEY="g-1"
    )
    assert reused.status_code == 409 and reused.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert ledger.balance_of(frank) == 20 and Entry.objects.count() == 1

    outsider = console_client(charlie)
    denied = outsider.post("/api/v1/points/adjust", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="g-2")
    assert denied.status_code == 404
    assert outsider.get(f"/api/v1/points/members/{frank.pk}").status_code == 404
    assert client.get(f"/api/v1/points/members/{frank.pk}").json()["balance"] == 20


def test_rules_get_and_set_for_cadres(tree: Tree, alice: User, bob: User, charlie: User) -> None:
    rules.set_rule(actor=alice, org=tree.province, kind=RuleKind.READ_NEWS, values={"points": 1})
    client = console_client(bob)
    created = client.post(
        "/api/v1/points/rules",
        {"org_id": tree.tianhe.pk, "kind": "signin", "points": 3, "streak_days": 7, "streak_bonus": 5},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    got = client.get(f"/api/v1/points/rules?org_id={tree.tianhe.pk}").json()
    by_kind = {r["kind"]: r for r in got["in_effect"]}
    assert by_kind["signin"]["rule"]["points"] == 3 and by_kind["signin"]["inherited"] is False
    assert by_kind["read_news"]["inherited"] is True and by_kind["read_news"]["rule"]["org_name"] == "广东省总工会"
    assert by_kind["join"]["rule"] is None
    assert [r["kind"] for r in got["history"]] == ["signin"]
    past = client.post(
        "/api/v1/points/rules",
        {"org_id": tree.tianhe.pk, "kind": "signin", "points": 3, "effective_from": "2020-01-01T00:00:00+08:00"},
        content_type="application/json",
    )
    assert past.status_code == 400 and past.json()["code"] == "POINTS_RULE_PAST"
    outsider = console_client(charlie)
    assert outsider.get(f"/api/v1/points/rules?org_id={tree.tianhe.pk}").status_code == 404
    blocked = outsider.post(
        "/api/v1/points/rules",
        {"org_id": tree.tianhe.pk, "kind": "signin", "points": 99},
        content_type="application/json",
    )
    assert blocked.status_code == 404
