"""Console, portal and API: scoping (another district's coupons are 404), merchant scoping,
the wallet, and Idempotency-Key on the API's writes."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from gonghui.conftest import Tree, console_client, make_member
from gonghui.core.models import User
from gonghui.coupons import actions
from gonghui.coupons.models import Coupon, CouponSource, CouponStatus, CouponTemplate, Merchant
from gonghui.members.models import Member

pytestmark = pytest.mark.django_db


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def coupon(spa_template: CouponTemplate, frank: Member) -> Coupon:
    return actions.issue(spa_template, frank, source=CouponSource.WELFARE, key="w1").coupon


def test_console_pages_for_the_owner(bob: User, spa_template: CouponTemplate, spa: Merchant, coupon: Coupon) -> None:
    client = console_client(bob)
    for url in [
        "/console/coupons/",
        "/console/coupons/new/",
        f"/console/coupons/{spa_template.pk}/",
        f"/console/coupons/{spa_template.pk}/edit/",
        f"/console/coupons/{spa_template.pk}/bulk/",
        "/console/coupons/merchants/",
        "/console/coupons/merchants/new/",
        f"/console/coupons/merchants/{spa.pk}/",
        "/console/coupons/reports/",
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
    assert coupon.display_code in client.get(f"/console/coupons/{spa_template.pk}/").content.decode()


def test_console_is_scoped_by_district(
    charlie: User, spa_template: CouponTemplate, spa: Merchant, coupon: Coupon, tree: Tree
) -> None:
    client = console_client(charlie)
    for url in [
        f"/console/coupons/{spa_template.pk}/",
        f"/console/coupons/{spa_template.pk}/edit/",
        f"/console/coupons/{spa_template.pk}/bulk/",
        f"/console/coupons/merchants/{spa.pk}/",
    ]:
        assert client.get(url).status_code == 404, url
    assert client.post(f"/console/coupons/{spa_template.pk}/stock/", {"quantity": 1000}).status_code == 404
    assert client.post(f"/console/coupons/{spa_template.pk}/issue/", {"member": "范克"}).status_code == 404
    assert client.post(f"/console/coupons/merchants/{spa.pk}/users/", {"mobile": "13700000000"}).status_code == 404
    assert "从化温泉双人票" not in client.get("/console/coupons/").content.decode()
    assert "从化碧泉温泉" not in client.get("/console/coupons/reports/").content.decode()
    spa_template.refresh_from_db()
    assert spa_template.quantity == 100


def test_console_issue_and_merchant_account(
    bob: User, spa_template: CouponTemplate, spa: Merchant, frank: Member
) -> None:
    client = console_client(bob)
    response = client.post(f"/console/coupons/{spa_template.pk}/issue/", {"member": "13900000006", "key": "k"})
    assert response.status_code == 302
    client.post(f"/console/coupons/{spa_template.pk}/issue/", {"member": "13900000006", "key": "k"})  # double submit
    assert Coupon.objects.filter(member=frank).count() == 1
    client.post(f"/console/coupons/merchants/{spa.pk}/users/", {"mobile": "13712340000", "name": "收银员"})
    cashier = User.objects.get(mobile="13712340000")
    assert cashier.merchant_link.merchant == spa


def test_wallet_and_detail(frank: Member, coupon: Coupon, tree: Tree, spa_template: CouponTemplate) -> None:
    assert frank.user is not None
    client = logged_in(frank.user)
    page = client.get("/me/coupons/").content.decode()
    assert "从化温泉双人票" in page
    detail = client.get(f"/me/coupons/{coupon.code}/").content.decode()
    assert 'id="coupon-qr"' in detail and coupon.display_code in detail and "从化碧泉温泉" in detail
    other = make_member(tree.tianhe_union, "王五")
    theirs = actions.issue(spa_template, other, source="grant", key="w2").coupon
    assert client.get(f"/me/coupons/{theirs.code}/").status_code == 404


def test_merchant_page_redeems_once_and_is_scoped(coupon: Coupon, mia: User, max_user: User, frank: Member) -> None:
    assert logged_in(frank.user).get("/merchant/").status_code == 403  # type: ignore[arg-type]
    other = logged_in(max_user)
    refused = other.post("/merchant/lookup/", {"code": coupon.code}, HTTP_HX_REQUEST="true").content.decode()
    assert "COUPON_WRONG_MERCHANT" in refused and "范" not in refused
    cashier = logged_in(mia)
    preview = cashier.post("/merchant/lookup/", {"code": coupon.display_code}, HTTP_HX_REQUEST="true")
    assert "确认核销" in preview.content.decode() and "范*" in preview.content.decode()
    done = cashier.post("/merchant/redeem/", {"code": coupon.code, "key": "once"}, HTTP_HX_REQUEST="true")
    assert "核销成功" in done.content.decode()
    again = cashier.post("/merchant/redeem/", {"code": coupon.code, "key": "once"}, HTTP_HX_REQUEST="true")
    assert "核销成功" in again.content.decode()  # the same form resubmitted: the first result
    second = cashier.post("/merchant/redeem/", {"code": coupon.code, "key": "new"}, HTTP_HX_REQUEST="true")
    assert "已核销过，不能重复使用" in second.content.decode()
    history = cashier.get("/merchant/history/").content.decode()
    assert coupon.display_code in history
    assert coupon.display_code not in other.get("/merchant/history/").content.decode()


def test_api_wallet_and_redeem_with_idempotency_key(coupon: Coupon, frank: Member, mia: User, max_user: User) -> None:
    member = logged_in(frank.user)  # type: ignore[arg-type]
    wallet = member.get("/api/v1/me/coupons").json()
    assert [c["code"] for c in wallet] == [coupon.code]
    qr = member.get(f"/api/v1/me/coupons/{coupon.code}").json()["qr_content"]
    wrong = logged_in(max_user).post("/api/v1/merchant/coupons/redeem", {"code": qr}, content_type="application/json")
    assert (wrong.status_code, wrong.json()["code"]) == (409, "COUPON_WRONG_MERCHANT")
    cashier = logged_in(mia)
    first = cashier.post(
        "/api/v1/merchant/coupons/redeem", {"code": qr}, content_type="application/json", HTTP_IDEMPOTENCY_KEY="r-1"
    )
    assert first.status_code == 200 and first.json()["replayed"] is False
    retry = cashier.post(
        "/api/v1/merchant/coupons/redeem", {"code": qr}, content_type="application/json", HTTP_IDEMPOTENCY_KEY="r-1"
    )
    assert retry.status_code == 200 and retry.json()["replayed"] is True
    assert retry.json()["redemption_id"] == first.json()["redemption_id"]
    second = cashier.post("/api/v1/merchant/coupons/redeem", {"code": qr}, content_type="application/json")
    assert (second.status_code, second.json()["code"]) == (409, "COUPON_ALREADY_REDEEMED")
    assert "核销" in second.json()["message"]
    assert cashier.get("/api/v1/merchant/redemptions").json()["today"] == 1
    coupon.refresh_from_db()
    assert coupon.status == CouponStatus.REDEEMED


def test_api_cadre_issue_is_idempotent_and_scoped(
    bob: User,
    charlie: User,
    spa_template: CouponTemplate,
    frank: Member,
    tree: Tree,
    django_capture_on_commit_callbacks: Any,
) -> None:
    api = console_client(bob)
    url = f"/api/v1/coupons/templates/{spa_template.pk}/issue"
    missing = api.post(url, {"member_id": frank.pk}, content_type="application/json")
    assert (missing.status_code, missing.json()["code"]) == (400, "IDEMPOTENCY_KEY_REQUIRED")
    one = api.post(url, {"member_id": frank.pk}, content_type="application/json", HTTP_IDEMPOTENCY_KEY="x")
    two = api.post(url, {"member_id": frank.pk}, content_type="application/json", HTTP_IDEMPOTENCY_KEY="x")
    assert one.status_code == two.status_code == 200
    assert one.json()["id"] == two.json()["id"] and two.json()["replayed"] is True
    other = console_client(charlie)
    assert other.get(f"/api/v1/coupons/templates/{spa_template.pk}").status_code == 404
    assert (
        other.post(url, {"member_id": frank.pk}, content_type="application/json", HTTP_IDEMPOTENCY_KEY="y").status_code
        == 404
    )
    assert other.get("/api/v1/coupons/templates").json() == []
    with django_capture_on_commit_callbacks(execute=True):
        job = api.post(
            f"/api/v1/coupons/templates/{spa_template.pk}/bulk-issues",
            {"org_id": tree.tianhe_union.pk},
            content_type="application/json",
        )
    assert job.status_code == 202
    assert other.get(f"/api/v1/coupons/bulk-issues/{job.json()['id']}").status_code == 404
    assert api.get(f"/api/v1/coupons/bulk-issues/{job.json()['id']}").json()["status"] == "done"  # immediate backend
    report = api.get("/api/v1/coupons/templates").json()
    assert report[0]["issued"] == 1  # frank already had his one coupon: the bulk run skipped him
