"""``/api/v1/activities``: the organisers' endpoints (scoped: another district's activity
is 404) and the members' ones (activities for me, public detail with eligibility, mine)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from gonghui.activities import actions
from gonghui.activities.models import Activity, ActivityStatus, AudienceMember
from gonghui.activities.tests.conftest import PLAIN, PlainKind, make_activity
from gonghui.conftest import Tree, console_client, make_member
from gonghui.core.audit import AuditEvent
from gonghui.core.models import User
from gonghui.members.models import Member

pytestmark = pytest.mark.django_db
BASE = "/api/v1/activities"


@pytest.fixture(autouse=True)
def _plain(plain_kind: PlainKind) -> PlainKind:
    return plain_kind


def post(client: Client, path: str, body: dict[str, Any] | None = None) -> Any:
    return client.post(path, body or {}, content_type="application/json")


def patch(client: Client, path: str, body: dict[str, Any]) -> Any:
    return client.patch(path, body, content_type="application/json")


def member_client(member: Member) -> Client:
    user = User.objects.create_user(f"m{member.pk}", password="correct-horse-battery", name=member.name)
    member.user = user
    member.save(update_fields=["user"])
    client = Client()
    client.force_login(user)
    return client


def test_create_patch_publish_close_archive(tree: Tree, bob: User) -> None:
    client = console_client(bob)
    now = timezone.now()
    response = post(
        client,
        BASE,
        {
            "org_id": tree.tianhe.pk,
            "kind": PLAIN,
            "title": "天河区职工读书月",
            "starts_at": (now - timedelta(minutes=5)).isoformat(),
            "ends_at": (now + timedelta(days=7)).isoformat(),
            "description": "<p>读书<script>x</script></p>",
            "audience_groups": ["courier"],
            "settings": {"seats": 5},
        },
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["state"] == "draft" and body["kind_label"] == "测试活动"
    assert body["description"] == "<p>读书</p>"
    assert body["settings"]["seats"] == 5
    activity_id = body["id"]

    response = patch(client, f"{BASE}/{activity_id}", {"title": "天河区职工读书节", "audience_groups": []})
    assert response.status_code == 200
    assert response.json()["title"] == "天河区职工读书节" and response.json()["audience_groups"] == []

    response = post(client, f"{BASE}/{activity_id}/publish")
    assert response.status_code == 200 and response.json()["state"] == "open"
    again = post(client, f"{BASE}/{activity_id}/publish")
    assert again.status_code == 409 and again.json()["code"] == "ACTIVITY_NOT_DRAFT"

    frozen = patch(client, f"{BASE}/{activity_id}", {"verified_only": True})
    assert frozen.status_code == 409 and frozen.json()["code"] == "ACTIVITY_OPEN_FROZEN"

    assert post(client, f"{BASE}/{activity_id}/close", {}).status_code == 422  # reason required
    response = post(client, f"{BASE}/{activity_id}/close", {"reason": "提前完成"})
    assert response.status_code == 200 and response.json()["state"] == "closed"
    assert response.json()["finalised_at"] is not None
    response = post(client, f"{BASE}/{activity_id}/archive")
    assert response.status_code == 200 and response.json()["state"] == "archived"


def test_create_errors_have_stable_codes(tree: Tree, bob: User) -> None:
    client = console_client(bob)
    now = timezone.now()
    body = {"org_id": tree.tianhe.pk, "kind": PLAIN, "title": "x", "starts_at": now.isoformat()}
    wrong_order = post(client, BASE, {**body, "ends_at": (now - timedelta(hours=1)).isoformat()})
    assert wrong_order.status_code == 400 and wrong_order.json()["code"] == "ACTIVITY_WINDOW_ORDER"
    unknown = post(client, BASE, {**body, "kind": "nope", "ends_at": (now + timedelta(hours=1)).isoformat()})
    assert unknown.status_code == 400 and unknown.json()["code"] == "ACTIVITY_KIND_UNKNOWN"
    bad_settings = post(
        client, BASE, {**body, "ends_at": (now + timedelta(hours=1)).isoformat(), "settings": {"seats": -1}}
    )
    assert bad_settings.status_code == 400 and bad_settings.json()["code"] == "ACTIVITY_SETTINGS_INVALID"
    outside = post(client, BASE, {**body, "org_id": tree.nanshan.pk, "ends_at": (now + timedelta(hours=1)).isoformat()})
    assert outside.status_code == 404 and outside.json()["code"] == "NOT_FOUND"
    assert not Activity.objects.exists()


def test_list_is_scoped_filtered_and_paginated(tree: Tree, bob: User, charlie: User) -> None:
    for i in range(3):
        make_activity(tree.tianhe, bob, title=f"天河{i}", publish=i > 0)
    make_activity(tree.nanshan, charlie, title="南山")
    client = console_client(bob)
    first = client.get(BASE, {"limit": 2}).json()
    assert [a["title"] for a in first["items"]] == ["天河2", "天河1"]
    second = client.get(BASE, {"limit": 2, "cursor": first["next"]}).json()
    assert [a["title"] for a in second["items"]] == ["天河0"] and second["next"] is None
    assert [a["title"] for a in client.get(BASE, {"state": "draft"}).json()["items"]] == ["天河0"]
    assert [a["title"] for a in client.get(BASE, {"q": "天河1"}).json()["items"]] == ["天河1"]
    assert client.get(BASE, {"org": tree.nanshan.pk}).status_code == 404
    assert client.get(BASE, {"cursor": "garbage"}).json()["code"] == "INVALID_CURSOR"


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("get", "/organiser", None),
        ("patch", "", {"title": "改"}),
        ("post", "/publish", {}),
        ("post", "/close", {"reason": "x"}),
        ("post", "/archive", {}),
        ("get", "/stats", None),
        ("get", "/audience-list", None),
        ("put", "/audience-list", {"card_numbers": []}),
    ],
)
def test_another_districts_activity_is_404(
    tree: Tree, bob: User, charlie: User, method: str, suffix: str, body: dict[str, Any] | None
) -> None:
    activity = make_activity(tree.nanshan, charlie)
    client = console_client(bob)
    path = f"{BASE}/{activity.pk}{suffix}"
    if method == "get":
        response = client.get(path)
    else:
        response = getattr(client, method)(path, body or {}, content_type="application/json")
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"
    assert Activity.objects.get(pk=activity.pk).status == ActivityStatus.DRAFT


def test_stats_by_suborg_and_day(tree: Tree, bob: User) -> None:
    activity = make_activity(tree.tianhe, bob, publish=True)
    actions.record_participation(activity, make_member(tree.tianhe_union, "甲"))
    actions.record_participation(activity, make_member(tree.tianhe, "乙"))
    body = console_client(bob).get(f"{BASE}/{activity.pk}/stats").json()
    assert body["participants"] == 2
    assert {row["name"]: row["count"] for row in body["by_suborg"]} == {
        "天河区石牌街道总工会": 1,
        "天河区总工会（本级）": 1,
    }
    assert body["by_day"] == [{"date": timezone.localdate().isoformat(), "count": 2}]


def test_audience_list(tree: Tree, bob: User) -> None:
    activity = make_activity(tree.tianhe, bob, member_list_only=True)
    one = make_member(tree.tianhe_union, "甲", mobile="13511112222")
    make_member(tree.nanshan_union, "乙", mobile="13533334444")
    client = console_client(bob)
    path = f"{BASE}/{activity.pk}/audience-list"
    refused = client.put(path, {"mobiles": ["13511112222", "13533334444"]}, content_type="application/json")
    assert refused.status_code == 400 and refused.json()["code"] == "AUDIENCE_LIST_NOT_FOUND"
    assert refused.json()["details"]["not_found"] == ["13533334444"]
    assert not AudienceMember.objects.exists()
    done = client.put(path, {"mobiles": ["135-1111-2222"]}, content_type="application/json")
    assert done.status_code == 200
    assert done.json()["total"] == 1 and done.json()["items"][0]["member_id"] == one.pk
    assert done.json()["items"][0]["mobile_masked"] == "135****2222"
    assert client.get(path).json()["total"] == 1
    assert AuditEvent.objects.filter(action="activity.audience_list").count() == 1


def test_member_endpoints(tree: Tree) -> None:
    member = make_member(tree.tianhe_union, "会员甲")
    mine = make_activity(tree.tianhe, publish=True, title="天河的活动", rules="每人一次")
    make_activity(tree.nanshan, publish=True, title="南山的活动")
    make_activity(tree.tianhe, title="草稿")
    client = member_client(member)

    for_me = client.get(f"{BASE}/for-me")
    assert for_me.status_code == 200
    assert [(a["title"], a["eligibility"]["ok"]) for a in for_me.json()] == [("天河的活动", True)]

    detail = client.get(f"{BASE}/{mine.pk}").json()
    assert detail["eligibility"] == {"ok": True, "code": "", "reason": ""}
    assert detail["rules"] == "每人一次" and detail["participated"] is False

    actions.record_participation(mine, member)
    detail = client.get(f"{BASE}/{mine.pk}").json()
    assert detail["participated"] is True and detail["eligibility"]["code"] == "PLAIN_DONE"
    assert [p["title"] for p in client.get(f"{BASE}/mine").json()] == ["天河的活动"]


def test_public_detail_for_outsiders_and_visitors(tree: Tree) -> None:
    activity = make_activity(tree.tianhe, publish=True)
    outsider = member_client(make_member(tree.nanshan_union, "南山会员"))
    body = outsider.get(f"{BASE}/{activity.pk}").json()
    assert body["eligibility"]["code"] == "AUDIENCE_OUTSIDE"
    assert Client().get(f"{BASE}/{activity.pk}").json()["eligibility"]["code"] == "NOT_A_MEMBER"
    draft = make_activity(tree.tianhe)
    assert Client().get(f"{BASE}/{draft.pk}").status_code == 404
    assert Client().get(f"{BASE}/for-me").status_code == 401


def test_activities_are_in_the_openapi_with_a_tag(client: Client) -> None:
    spec = client.get("/api/openapi.json").json()
    operations = [op for path, item in spec["paths"].items() if path.startswith(BASE) for op in item.values()]
    ids = {op["operationId"] for op in operations if "活动 activities" in op.get("tags", [])}
    assert {
        "list_activities",
        "create_activity",
        "get_activity",
        "update_activity",
        "publish_activity",
        "close_activity",
        "archive_activity",
        "activity_stats",
        "get_audience_list",
        "set_audience_list",
        "activities_for_me",
        "my_activities",
        "get_activity_public",
    } <= ids
