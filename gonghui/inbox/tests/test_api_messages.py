"""``/api/v1/me/messages`` and ``/api/v1/broadcasts``: JSON, coded errors, scoping."""

from __future__ import annotations

from typing import Any

from django.test import Client

from gonghui.api.tests.conftest import Api
from gonghui.conftest import Tree, console_client, make_member
from gonghui.core.models import User
from gonghui.inbox import actions
from gonghui.inbox.actions import notify, notify_user
from gonghui.inbox.models import Message, MessageKind
from gonghui.members.models import Member


def member_api(member: Member) -> Api:
    client = Client(enforce_csrf_checks=True)
    assert member.user is not None
    client.force_login(member.user)
    return Api(client)


def csrf_post(api: Api, path: str) -> Any:
    api.client.get("/me/")  # sets the csrftoken cookie
    token = api.client.cookies["csrftoken"].value
    return api.client.post(path, {}, content_type="application/json", headers={"X-CSRFToken": token})


def test_my_messages_paginated_with_unread_count(frank: Member, tree: Tree) -> None:
    notify_user(frank.user, MessageKind.APPLICATION, "申请已提交")
    for i in range(3):
        notify(frank, MessageKind.NOTICE, f"通知{i}", "正文", sender=tree.tianhe)
    body = member_api(frank).get("/api/v1/me/messages", {"limit": 2}).json()
    assert body["count"] == 4 and body["unread"] == 4
    assert [m["title"] for m in body["items"]] == ["通知2", "通知1"]
    assert body["items"][0]["sender_org_name"] == tree.tianhe.name and body["items"][0]["read_at"] is None
    rest = member_api(frank).get("/api/v1/me/messages", {"limit": 2, "offset": 2}).json()
    assert [m["title"] for m in rest["items"]] == ["通知0", "申请已提交"]


def test_read_one_message_needs_csrf_and_marks_it(frank: Member) -> None:
    message = notify(frank, MessageKind.SYSTEM, "提醒")
    api = member_api(frank)
    refused = api.post(f"/api/v1/me/messages/{message.pk}/read")
    assert refused.status_code == 403 and refused.json()["code"] == "CSRF_FAILED"
    response = csrf_post(api, f"/api/v1/me/messages/{message.pk}/read")
    assert response.status_code == 200 and response.json()["read_at"] is not None
    assert api.get("/api/v1/me/messages").json()["unread"] == 0


def test_someone_elses_message_is_404(frank: Member, tree: Tree) -> None:
    other = notify(make_member(tree.tianhe_union, "别人"), MessageKind.SYSTEM, "别人的")
    response = csrf_post(member_api(frank), f"/api/v1/me/messages/{other.pk}/read")
    assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND"
    assert Message.objects.get(pk=other.pk).read_at is None


def test_read_all(frank: Member) -> None:
    for i in range(3):
        notify(frank, MessageKind.SYSTEM, f"提醒{i}")
    response = csrf_post(member_api(frank), "/api/v1/me/messages/read-all")
    assert response.json() == {"marked": 3}


def test_anonymous_gets_401(client: Client) -> None:
    response = client.get("/api/v1/me/messages")
    assert response.status_code == 401 and response.json()["code"] == "AUTH_REQUIRED"


def broadcast_body(org_id: int, **overrides: Any) -> dict[str, Any]:
    return {"org_id": org_id, "title": "高温慰问", "body": "送清凉", **overrides}


def test_cadre_creates_a_broadcast_and_reads_progress(
    tree: Tree, bob: User, tianhe_people: list[Member], django_capture_on_commit_callbacks: Any
) -> None:
    api = Api(console_client(bob))
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/v1/broadcasts", broadcast_body(tree.tianhe.pk, filters={"employment_status": ["retired"]})
        )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["total"] == 1 and created["filters"] == {"employment_status": ["retired"]}
    progress = api.get(f"/api/v1/broadcasts/{created['id']}").json()
    assert (progress["status"], progress["sent"], progress["percent"]) == ("done", 1, 100)


def test_broadcast_errors_are_coded(tree: Tree, bob: User, tianhe_people: list[Member]) -> None:
    api = Api(console_client(bob))
    nobody = api.post("/api/v1/broadcasts", broadcast_body(tree.tianhe.pk, filters={"new_employment_group": ["carer"]}))
    assert nobody.status_code == 400 and nobody.json()["code"] == "BROADCAST_NO_RECIPIENTS"
    outside = api.post("/api/v1/broadcasts", broadcast_body(tree.tianhe.pk, filters={"org_id": tree.nanshan.pk}))
    assert outside.status_code == 400 and outside.json()["code"] == "BROADCAST_ORG_OUTSIDE"
    left = api.post("/api/v1/broadcasts", broadcast_body(tree.tianhe.pk, filters={"status": ["left"]}))
    assert left.status_code == 400 and left.json()["code"] == "BROADCAST_BAD_FILTER"
    bad = api.post("/api/v1/broadcasts", broadcast_body(tree.tianhe.pk, filters={"status": ["astronaut"]}))
    assert bad.status_code == 422 and bad.json()["code"] == "VALIDATION_ERROR"


def test_another_districts_union_and_broadcast_are_404(
    tree: Tree, bob: User, charlie: User, tianhe_people: list[Member]
) -> None:
    charlie_api = Api(console_client(charlie))
    response = charlie_api.post("/api/v1/broadcasts", broadcast_body(tree.tianhe.pk))
    assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND"
    broadcast = actions.send_broadcast(bob, tree.tianhe, "天河的通知", "正文", {})
    response = charlie_api.get(f"/api/v1/broadcasts/{broadcast.pk}")
    assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND"


def test_members_cannot_broadcast(frank: Member, tree: Tree) -> None:
    response = member_api(frank).get("/api/v1/broadcasts/1")
    assert response.status_code == 403 and response.json()["code"] == "CADRE_REQUIRED"
