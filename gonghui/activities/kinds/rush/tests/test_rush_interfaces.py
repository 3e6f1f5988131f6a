"""The rush's portal panel and grab fragments, console pages and API (tenancy included)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from gonghui.activities.kinds.rush import actions as rush
from gonghui.activities.kinds.rush.models import Grant, GrantStatus, RushItem
from gonghui.conftest import console_client, make_member
from gonghui.core.models import AuditEvent, User

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def member_client(member: Any) -> Client:
    if member.user_id is None:
        member.user = User.objects.create_user(f"m{member.pk}", password="x-correct-horse")
        member.save(update_fields=["user"])
    client = Client()
    client.force_login(member.user)
    return client


def test_the_panel_counts_down_before_the_opening(make_rush: Any, frank: Any) -> None:
    activity, [item] = make_rush((5,), opens_in=timedelta(minutes=10))
    response = member_client(frank).get(f"/a/{activity.pk}/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "data-rush-countdown" in body and "距开抢还有" in body
    assert item.name in body and "data-rush-grab disabled" in body


def test_grab_through_the_portal_fragment_shows_the_code(make_rush: Any, frank: Any) -> None:
    activity, [item] = make_rush((5,))
    client = member_client(frank)
    response = client.post(f"/a/{activity.pk}/rush/grab/", {"item_id": item.pk}, **HTMX)
    body = response.content.decode()
    grant = Grant.objects.get(member=frank)
    assert response.status_code == 200 and 'data-outcome="won"' in body and grant.code in body
    assert "<svg" in body  # the QR
    # The activity page now shows the ticket instead of the buttons.
    page = client.get(f"/a/{activity.pk}/").content.decode()
    assert 'id="rush-code"' in page and grant.code in page
    again = client.post(f"/a/{activity.pk}/rush/grab/", {"item_id": item.pk}, **HTMX).content.decode()
    assert 'data-outcome="already"' in again


def test_sold_out_and_no_js_fallback(make_rush: Any, frank: Any, tree: Any) -> None:
    activity, [item] = make_rush((1,))
    first = make_member(tree.tianhe_union, "先到")
    member_client(first).post(f"/a/{activity.pk}/rush/grab/", {"item_id": item.pk})
    response = member_client(frank).post(f"/a/{activity.pk}/rush/grab/", {"item_id": item.pk}, **HTMX)
    assert 'data-outcome="sold_out"' in response.content.decode() and "已抢完" in response.content.decode()
    plain = member_client(frank).post(f"/a/{activity.pk}/rush/grab/", {"item_id": item.pk}, follow=True)
    assert "已抢完" in plain.content.decode()


@override_settings(RUSH_ADMIT_BURST=0, RUSH_ADMIT_RATE=1)
def test_a_crowd_gets_a_polling_queue_fragment(make_rush: Any, frank: Any, tree: Any) -> None:
    others = [make_member(tree.tianhe_union, f"排队{i}") for i in range(3)]
    activity, [item] = make_rush((5,), opens_in=timedelta(seconds=0))
    for m in others:
        member_client(m).post(f"/a/{activity.pk}/rush/grab/", {"item_id": item.pk}, **HTMX)
    response = member_client(frank).post(f"/a/{activity.pk}/rush/grab/", {"item_id": item.pk}, **HTMX)
    body = response.content.decode()
    assert response.status_code == 202
    assert 'data-outcome="queued"' in body and 'hx-trigger="load delay:2s"' in body and '"token"' in body


def test_cancel_from_the_portal(make_rush: Any, frank: Any) -> None:
    later = (timezone.now() + timedelta(days=1)).isoformat()
    activity, [item] = make_rush((2,), settings={"cancel_deadline": later})
    client = member_client(frank)
    client.post(f"/a/{activity.pk}/rush/grab/", {"item_id": item.pk})
    page = client.get(f"/a/{activity.pk}/").content.decode()
    assert "退票（" in page and "确定退票吗" in page and "退券" not in page
    response = client.post(f"/a/{activity.pk}/rush/cancel/", follow=True)
    assert "已退票" in response.content.decode()
    assert RushItem.objects.get(pk=item.pk).remaining == 2
    assert Grant.objects.get(member=frank).status == GrantStatus.CANCELLED


def test_console_pages_and_tenancy(make_rush: Any, members: Any, bob: Any, charlie: Any) -> None:
    activity, [item] = make_rush((3,))
    [m] = members(1)
    grant = rush.grab(activity=activity, member=m, item_id=item.pk)
    client = console_client(bob)
    detail = client.get(f"/console/activities/{activity.pk}/").content.decode()
    assert 'id="rush-results"' in detail and "票种与库存" in detail
    live = client.get(f"/console/activities/{activity.pk}/rush/live/").content.decode()
    assert 'id="rush-taken">1<' in live and 'id="rush-remaining">2<' in live
    grants = client.get(f"/console/activities/{activity.pk}/rush/grants/").content.decode()
    assert grant.code in grants and m.name not in grants and m.name[0] + "*" in grants
    items = client.get(f"/console/activities/{activity.pk}/rush/items/").content.decode()
    assert item.name in items and "抢票开始后票种和库存不能再修改" in items
    done = client.post(f"/console/activities/{activity.pk}/rush/redeem/", {"code": grant.code})
    assert done.status_code == 200 and 'id="rush-redeemed"' in done.content.decode()
    assert Grant.objects.get(pk=grant.pk).status == GrantStatus.REDEEMED
    other = console_client(charlie)
    for url in ("rush/items/", "rush/grants/", "rush/redeem/", "rush/live/"):
        assert other.get(f"/console/activities/{activity.pk}/{url}").status_code == 404, url


def test_console_adds_items_before_the_opening(make_rush: Any, bob: Any) -> None:
    activity, _ = make_rush((), opens_in=timedelta(days=1), publish=False)
    client = console_client(bob)
    response = client.post(
        f"/console/activities/{activity.pk}/rush/items/",
        {"name": "平安返乡专列 G1234", "detail": "2027-01-28 广州南→长沙南", "stock": "300"},
    )
    assert response.status_code == 302
    item = RushItem.objects.get(activity=activity)
    assert (item.stock, item.remaining) == (300, 300)
    assert AuditEvent.objects.filter(action="activity_rush.item_add", actor=bob).exists()


def test_api_grab_status_cancel(make_rush: Any, frank: Any) -> None:
    later = (timezone.now() + timedelta(days=1)).isoformat()
    activity, [item] = make_rush((1,), settings={"cancel_deadline": later})
    client = member_client(frank)
    url = f"/api/v1/activities/{activity.pk}/rush"
    response = client.post(f"{url}/grab", {"item_id": item.pk}, content_type="application/json")
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["result"] == "granted" and data["grant"]["code"] == Grant.objects.get().code
    assert data["grant"]["item_name"] == item.name and data["grant"]["qr"]
    status = client.get(url).json()
    assert status["sold_out"] and status["mine"]["code"] == data["grant"]["code"]
    again = client.post(f"{url}/grab", {"item_id": item.pk}, content_type="application/json")
    assert again.status_code == 403 and again.json()["code"] == "RUSH_ALREADY"
    cancelled = client.post(f"{url}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert RushItem.objects.get(pk=item.pk).remaining == 1


@override_settings(RUSH_ADMIT_BURST=0, RUSH_ADMIT_RATE=1)
def test_api_queue_and_forged_token(make_rush: Any, frank: Any, tree: Any) -> None:
    crowd = [member_client(make_member(tree.tianhe_union, f"排队{i}")) for i in range(2)]
    client = member_client(frank)
    activity, [item] = make_rush((5,), opens_in=timedelta(seconds=0))
    url = f"/api/v1/activities/{activity.pk}/rush/grab"
    for other in crowd:
        other.post(url, {"item_id": item.pk}, content_type="application/json")
    queued = client.post(url, {"item_id": item.pk}, content_type="application/json")
    assert queued.status_code == 202 and queued.json()["result"] == "queued" and queued.json()["place"] >= 1
    forged = client.post(url, {"item_id": item.pk, "token": "1:forged:token"}, content_type="application/json")
    assert forged.status_code == 400 and forged.json()["code"] == "RUSH_ADMISSION_INVALID"
    assert not Grant.objects.filter(member=frank).exists()


def test_api_organiser_endpoints_and_tenancy(make_rush: Any, members: Any, bob: Any, charlie: Any) -> None:
    activity, _ = make_rush((), opens_in=timedelta(days=1), publish=False)
    url = f"/api/v1/activities/{activity.pk}/rush"
    client = console_client(bob)
    added = client.post(f"{url}/items", {"name": "电影券", "detail": "", "stock": 100}, content_type="application/json")
    assert added.status_code == 201 and added.json()["remaining"] == 100
    item_id = added.json()["id"]
    patched = client.patch(
        f"{url}/items/{item_id}", json.dumps({"name": "电影券", "stock": 120}), content_type="application/json"
    )
    assert patched.status_code == 200 and patched.json()["stock"] == 120
    listed = client.get(f"{url}/items").json()
    assert listed[0]["granted"] == 0 and listed[0]["remaining"] == 120
    assert client.get(f"{url}/grants").json()["count"] == 0
    other = console_client(charlie)
    assert other.get(f"{url}/items").status_code == 404
    assert other.post(f"{url}/redeem", {"code": "X"}, content_type="application/json").status_code == 404
    assert client.delete(f"{url}/items/{item_id}").status_code == 204
