"""The mall's pages: the member's shop and orders, the console's goods, fulfilment and
report; another district's goods and orders are 404 in the console."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from gonghui.conftest import Tree, console_client
from gonghui.core.models import AuditEvent, User
from gonghui.mall import actions
from gonghui.mall.models import Goods, GoodsKind, GoodsStatus, Order, OrderStatus
from gonghui.mall.tests.conftest import give, make_goods
from gonghui.members.models import Member
from gonghui.points import ledger

pytestmark = pytest.mark.django_db


def png(name: str = "cup.png") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), "#c8161d").save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


def member_client(member: Member) -> Client:
    client = Client()
    assert member.user is not None
    client.force_login(member.user)
    return client


@pytest.fixture
def media(settings: object, tmp_path: object) -> None:
    settings.MEDIA_ROOT = tmp_path  # type: ignore[attr-defined]


def test_member_shops_confirms_and_cancels(buyer: Member, cup: Goods) -> None:
    give(buyer, 300)
    client = member_client(buyer)
    home = client.get("/mall/")
    assert home.status_code == 200 and "工会定制保温杯" in home.content.decode()
    detail = client.get(f"/mall/{cup.pk}/").content.decode()
    assert "300" in detail and "立即兑换" in detail
    confirm = client.get(f"/mall/{cup.pk}/order/")
    nonce = confirm.context["nonce"]
    response = client.post(f"/mall/{cup.pk}/order/", {"nonce": nonce, "quantity": "1"})
    order = Order.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/me/mall/orders/{order.pk}/"
    again = client.post(f"/mall/{cup.pk}/order/", {"nonce": nonce, "quantity": "1"})  # a double tap
    assert again.status_code == 302 and Order.objects.count() == 1
    page = client.get(f"/me/mall/orders/{order.pk}/").content.decode()
    assert order.pickup_code in page and 'id="pickup-qr"' in page and "待领取" in page
    assert "工会定制保温杯" in client.get("/me/mall/orders/").content.decode()
    client.post(f"/me/mall/orders/{order.pk}/cancel/", {"nonce": "o1-cancel-request-x"})
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED and ledger.balance_of(buyer) == 300
    statement = client.get("/me/points/").content.decode()
    assert "兑换：工会定制保温杯" in statement and "取消兑换：工会定制保温杯" in statement


def test_unverified_member_sees_why(frank: Member, cup: Goods) -> None:
    give(frank, 300)
    client = member_client(frank)
    page = client.get(f"/mall/{cup.pk}/").content.decode()
    assert "此商品仅限已实名认证的会员兑换，请先完成实名认证。" in page and "立即兑换" not in page
    nonce = "n" * 20
    response = client.post(f"/mall/{cup.pk}/order/", {"nonce": nonce, "quantity": "1"})
    assert response.status_code == 400
    assert "此商品仅限已实名认证的会员兑换，请先完成实名认证。" in response.content.decode()
    assert not Order.objects.exists()


def test_delivery_form_needs_an_address(bob: User, tree: Tree, buyer: Member) -> None:
    goods = make_goods(bob, tree.tianhe, kind=GoodsKind.DELIVERY, pickup_place="")
    give(buyer, 300)
    client = member_client(buyer)
    form = client.get(f"/mall/{goods.pk}/order/").content.decode()
    assert 'name="address"' in form
    bad = client.post(f"/mall/{goods.pk}/order/", {"nonce": "a" * 20, "quantity": "1", "name": "范克"})
    assert bad.status_code == 400 and "收货地址" in bad.content.decode()
    ok = client.post(
        f"/mall/{goods.pk}/order/",
        {"nonce": "b" * 20, "quantity": "1", "name": "范克", "mobile": "13900000006", "address": "天河路 1 号"},
    )
    assert ok.status_code == 302 and Order.objects.get().address == "天河路 1 号"


def test_console_goods_crud(bob: User, tree: Tree, media: None) -> None:
    client = console_client(bob)
    assert client.get("/console/mall/goods/").status_code == 200
    response = client.post(
        "/console/mall/goods/new/",
        {
            "org": str(tree.tianhe.pk),
            "name": "工会定制雨伞",
            "kind": "physical_pickup",
            "price_points": "80",
            "stock": "20",
            "per_member_limit": "1",
            "verified_only": "on",
            "pickup_place": "区总工会服务台",
            "images": [png("a.png"), png("b.png")],
        },
    )
    goods = Goods.objects.get(name="工会定制雨伞")
    assert response.status_code == 302, response.content.decode()[:2000]
    assert goods.images.count() == 2 and goods.stock == 20 and goods.status == GoodsStatus.DRAFT
    detail = client.get(f"/console/mall/goods/{goods.pk}/").content.decode()
    assert "工会定制雨伞" in detail and "上架" in detail
    client.post(f"/console/mall/goods/{goods.pk}/status/", {"status": "on_sale"})
    client.post(f"/console/mall/goods/{goods.pk}/stock/", {"stock": "25"})
    edited = client.post(
        f"/console/mall/goods/{goods.pk}/edit/",
        {"name": "工会定制晴雨伞", "price_points": "90", "per_member_limit": "2", "pickup_place": "区总工会服务台"},
    )
    assert edited.status_code == 302
    goods.refresh_from_db()
    assert (goods.status, goods.stock, goods.name, goods.price_points, goods.verified_only) == (
        GoodsStatus.ON_SALE,
        25,
        "工会定制晴雨伞",
        90,
        False,
    )
    assert AuditEvent.objects.filter(action__startswith="mall.", object_id=str(goods.pk)).count() >= 4


def test_console_fulfilment_and_report(bob: User, buyer: Member, cup: Goods) -> None:
    give(buyer, 300)
    order = actions.place_order(member=buyer, goods=cup, key="pg:1").order
    client = console_client(bob)
    listing = client.get("/console/mall/orders/", {"status": "pickup_ready"}).content.decode()
    assert order.number in listing and order.pickup_code not in listing
    response = client.post("/console/mall/orders/pickup/", {"code": order.pickup_code}, follow=True)
    assert "已确认领取" in response.content.decode()
    order.refresh_from_db()
    assert order.status == OrderStatus.PICKED_UP
    report = client.get("/console/mall/report/").content.decode()
    assert "工会定制保温杯" in report and "mall-chart-data" in report
    assert client.get(f"/console/mall/orders/{order.pk}/").status_code == 200


def test_console_is_404_across_districts(charlie: User, bob: User, buyer: Member, cup: Goods) -> None:
    give(buyer, 300)
    order = actions.place_order(member=buyer, goods=cup, key="pg:2").order
    south = console_client(charlie)
    for url in (
        f"/console/mall/goods/{cup.pk}/",
        f"/console/mall/goods/{cup.pk}/edit/",
        f"/console/mall/orders/{order.pk}/",
        f"/console/mall/orders/?goods={cup.pk}",
    ):
        assert south.get(url).status_code == 404, url
    for url, data in (
        (f"/console/mall/goods/{cup.pk}/stock/", {"stock": "0"}),
        (f"/console/mall/goods/{cup.pk}/status/", {"status": "off_sale"}),
        (f"/console/mall/orders/{order.pk}/cancel/", {"reason": "越权"}),
        (f"/console/mall/orders/{order.pk}/ship/", {"carrier": "x", "tracking_number": "y"}),
    ):
        assert south.post(url, data).status_code == 404, url
    assert order.number not in south.get("/console/mall/orders/").content.decode()
    assert "工会定制保温杯" not in south.get("/console/mall/report/").content.decode()
    order.refresh_from_db()
    cup.refresh_from_db()
    assert order.status == OrderStatus.PICKUP_READY and cup.stock == 10 and cup.status == GoodsStatus.ON_SALE
