"""The mall API: members order with a required Idempotency-Key; cadres manage and fulfil
inside their subtree only (another district's goods and orders are 404)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from gonghui.conftest import Tree, console_client, make_member
from gonghui.core.models import User
from gonghui.mall.models import Goods, GoodsKind, Order, OrderStatus
from gonghui.mall.tests.conftest import give, make_goods, verify
from gonghui.members.models import Member
from gonghui.points import ledger

pytestmark = pytest.mark.django_db


def member_client(member: Member) -> Client:
    client = Client()
    assert member.user is not None
    client.force_login(member.user)
    return client


def post(client: Client, path: str, body: dict[str, Any], key: str | None = None) -> Any:
    headers = {"Idempotency-Key": key} if key else {}
    return client.post(path, body, content_type="application/json", headers=headers)


def test_member_lists_orders_and_replays(buyer: Member, cup: Goods, bob: User, tree: Tree) -> None:
    make_goods(bob, tree.tianhe, name="草稿商品", on_sale=False)
    give(buyer, 250)
    client = member_client(buyer)
    listed = client.get("/api/v1/mall/goods").json()
    assert [g["name"] for g in listed["items"]] == ["工会定制保温杯"]
    detail = client.get(f"/api/v1/mall/goods/{cup.pk}").json()
    assert detail["can_order"] is True and detail["balance"] == 250

    missing = post(client, "/api/v1/mall/orders", {"goods_id": cup.pk})
    assert missing.status_code == 400 and missing.json()["code"] == "IDEMPOTENCY_KEY_REQUIRED"
    first = post(client, "/api/v1/mall/orders", {"goods_id": cup.pk}, key="k-1")
    assert first.status_code == 201, first.content
    body = first.json()
    assert body["replayed"] is False and body["balance"] == 150
    assert body["order"]["status"] == "pickup_ready" and len(body["order"]["pickup_code"]) == 8
    again = post(client, "/api/v1/mall/orders", {"goods_id": cup.pk}, key="k-1")
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert again.json()["order"]["id"] == body["order"]["id"]
    assert Order.objects.count() == 1 and ledger.balance_of(buyer) == 150

    limit = post(client, "/api/v1/mall/orders", {"goods_id": cup.pk}, key="k-2")
    assert limit.status_code == 409 and limit.json()["code"] == "MALL_LIMIT_REACHED"

    mine = client.get("/api/v1/me/mall/orders").json()
    assert mine["total"] == 1
    order_id = body["order"]["id"]
    cancelled = post(client, f"/api/v1/me/mall/orders/{order_id}/cancel", {}, key="c-1")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    replay = post(client, f"/api/v1/me/mall/orders/{order_id}/cancel", {}, key="c-1")
    assert replay.status_code == 200
    other = post(client, f"/api/v1/me/mall/orders/{order_id}/cancel", {}, key="c-2")
    assert other.status_code == 409 and other.json()["code"] == "MALL_NOT_CANCELLABLE"
    assert ledger.balance_of(buyer) == 250


def test_unverified_member_gets_a_clear_refusal(frank: Member, cup: Goods) -> None:
    give(frank, 500)
    client = member_client(frank)
    detail = client.get(f"/api/v1/mall/goods/{cup.pk}").json()
    assert detail["can_order"] is False and detail["refusal_code"] == "MALL_VERIFIED_ONLY"
    response = post(client, "/api/v1/mall/orders", {"goods_id": cup.pk}, key="u-1")
    assert response.status_code == 409
    assert response.json() == {
        "code": "MALL_VERIFIED_ONLY",
        "message": "此商品仅限已实名认证的会员兑换，请先完成实名认证。",
    }


def test_member_of_another_district_cannot_see_goods(tree: Tree, cup: Goods) -> None:
    southerner = verify(make_member(tree.nanshan_union, "南山会员"))
    southerner.user = User.objects.create_user("13700000099", password="x-horse-battery", mobile="13700000099")
    southerner.save(update_fields=["user"])
    give(southerner, 500)
    client = member_client(southerner)
    assert client.get("/api/v1/mall/goods").json()["total"] == 0
    assert client.get(f"/api/v1/mall/goods/{cup.pk}").status_code == 404
    assert post(client, "/api/v1/mall/orders", {"goods_id": cup.pk}, key="s-1").status_code == 404


def test_cadre_crud_and_fulfil_scoped(bob: User, charlie: User, tree: Tree, buyer: Member) -> None:
    api = console_client(bob)
    created = post(
        api,
        "/api/v1/mall/manage/goods",
        {"org_id": tree.tianhe.pk, "name": "快递毛巾", "kind": "physical_delivery", "price_points": 50, "stock": 2},
    )
    assert created.status_code == 201, created.content
    goods_id = created.json()["id"]
    published = api.patch(
        f"/api/v1/mall/manage/goods/{goods_id}", {"status": "on_sale", "stock": 3}, content_type="application/json"
    )
    assert published.status_code == 200 and published.json()["status"] == "on_sale"
    assert published.json()["stock"] == 3

    give(buyer, 100)
    order_resp = post(
        member_client(buyer),
        "/api/v1/mall/orders",
        {
            "goods_id": goods_id,
            "address": {"name": "范克", "mobile": "13900000006", "address": "广州市天河区天河路 1 号"},
        },
        key="d-1",
    )
    assert order_resp.status_code == 201, order_resp.content
    order_id = order_resp.json()["order"]["id"]

    listed = api.get("/api/v1/mall/manage/orders", {"status": "placed"}).json()
    assert listed["total"] == 1 and listed["items"][0]["recipient_mobile"] == "139****0006"
    shipped = post(api, f"/api/v1/mall/manage/orders/{order_id}/ship", {"carrier": "顺丰", "tracking_number": "SF1"})
    assert shipped.status_code == 200 and shipped.json()["status"] == "shipped"

    south = console_client(charlie)
    assert south.get(f"/api/v1/mall/manage/goods/{goods_id}").status_code == 404
    assert south.get(f"/api/v1/mall/manage/orders/{order_id}").status_code == 404
    patch = south.patch(f"/api/v1/mall/manage/goods/{goods_id}", {"stock": 0}, content_type="application/json")
    assert patch.status_code == 404
    assert post(south, f"/api/v1/mall/manage/orders/{order_id}/cancel", {"reason": "越权"}).status_code == 404
    assert south.get("/api/v1/mall/manage/orders").json()["total"] == 0
    assert (
        post(
            south,
            "/api/v1/mall/manage/goods",
            {"org_id": tree.tianhe.pk, "name": "x", "kind": "physical_delivery", "price_points": 1},
        ).status_code
        == 404
    )

    cancelled = post(api, f"/api/v1/mall/manage/orders/{order_id}/cancel", {"reason": "包裹退回"}, key="cc")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert ledger.balance_of(buyer) == 100


def test_pickup_by_code_through_the_api(bob: User, charlie: User, buyer: Member, cup: Goods) -> None:
    give(buyer, 100)
    order = post(member_client(buyer), "/api/v1/mall/orders", {"goods_id": cup.pk}, key="p-1").json()["order"]
    south = post(console_client(charlie), "/api/v1/mall/manage/orders/pickup", {"code": order["pickup_code"]})
    assert south.status_code == 400 and south.json()["code"] == "MALL_PICKUP_CODE_UNKNOWN"
    done = post(console_client(bob), "/api/v1/mall/manage/orders/pickup", {"code": f"GHMALL:{order['pickup_code']}"})
    assert done.status_code == 200 and done.json()["status"] == OrderStatus.PICKED_UP
    assert done.json()["pickup_code"] is None  # a cadre never reads member codes back


def test_virtual_codes_via_api(bob: User, tree: Tree, buyer: Member) -> None:
    api = console_client(bob)
    goods = make_goods(bob, tree.tianhe, kind=GoodsKind.VIRTUAL, pickup_place="", on_sale=False)
    added = post(api, f"/api/v1/mall/manage/goods/{goods.pk}/codes", {"codes": ["X1", "X2", "X1"]}).json()
    assert added == {"added": 2, "skipped": 0, "stock": 2}
    api.patch(f"/api/v1/mall/manage/goods/{goods.pk}", {"status": "on_sale"}, content_type="application/json")
    give(buyer, 100)
    order = post(member_client(buyer), "/api/v1/mall/orders", {"goods_id": goods.pk}, key="v-1").json()["order"]
    assert order["status"] == "delivered_code" and order["codes"] == ["X1"]
    cadre_view = api.get(f"/api/v1/mall/manage/orders/{order['id']}").json()
    assert cadre_view["codes"] == ["**"]  # masked for cadres; short codes show nothing


def test_list_queries_do_not_grow_with_rows(buyer: Member, bob: User, tree: Tree) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    give(buyer, 5000)
    member_api, cadre_api = member_client(buyer), console_client(bob)

    def counts() -> tuple[int, ...]:
        found = []
        for client, url in (
            (member_api, "/api/v1/me/mall/orders"),
            (cadre_api, "/api/v1/mall/manage/orders"),
            (member_api, "/api/v1/mall/goods"),
            (cadre_api, "/api/v1/mall/manage/goods"),
        ):
            with CaptureQueriesContext(connection) as ctx:
                assert client.get(url).status_code == 200
            found.append(len(ctx.captured_queries))
        return tuple(found)

    def add(n: int, start: int) -> None:
        for i in range(start, start + n):
            goods = make_goods(bob, tree.tianhe, name=f"商品{i}", price_points=10)
            assert post(member_api, "/api/v1/mall/orders", {"goods_id": goods.pk}, key=f"q-{i}").status_code == 201

    add(2, 0)
    counts()  # the first requests of a session read a few things once
    few = counts()
    add(5, 2)
    assert counts() == few, few
