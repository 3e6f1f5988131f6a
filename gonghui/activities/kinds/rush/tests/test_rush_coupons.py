"""A rush of coupons (抢券): the grab issues the coupon with the grant or neither exists;
giving the ticket back revokes the coupon; a used coupon keeps the ticket (SQLite and
PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.template.loader import render_to_string
from django.test import Client, RequestFactory
from django.utils import timezone

from gonghui.activities import actions as activity_actions
from gonghui.activities.kinds.rush import actions as rush
from gonghui.activities.kinds.rush.models import Grant, GrantStatus, RushItem
from gonghui.activities.models import Activity, Participation
from gonghui.conftest import Tree, console_client
from gonghui.core.audit import AuditEvent
from gonghui.core.errors import Conflict, DomainError, InvalidValue
from gonghui.core.models import User
from gonghui.coupons import actions as coupon_actions
from gonghui.coupons.checks import check_coupons
from gonghui.coupons.models import Coupon, CouponSource, CouponStatus, CouponTemplate, Merchant, TemplateStatus
from gonghui.coupons.tests.conftest import make_template
from gonghui.members.models import Member
from gonghui.portal.views import activity_rush

pytestmark = pytest.mark.django_db

LATER = {"cancel_deadline": (timezone.now() + timedelta(days=1)).isoformat()}


@pytest.fixture
def spa(bob: User, tree: Tree) -> Merchant:
    return coupon_actions.create_merchant(actor=bob, org=tree.tianhe, values={"name": "从化碧泉温泉"})


@pytest.fixture
def cashier(bob: User, spa: Merchant) -> User:
    return coupon_actions.add_merchant_user(actor=bob, merchant=spa, mobile="13711110001", name="米娅").user


def coupon_rush(
    make_rush: Any, template: CouponTemplate, stock: int = 3, settings: dict[str, Any] | None = None
) -> tuple[Activity, RushItem]:
    activity, _ = make_rush((), publish=False, settings=settings)
    item = rush.add_item(actor=None, activity=activity, name="温泉双人票", stock=stock, coupon_template_id=template.pk)
    return activity_actions.publish_activity(actor=None, activity=activity), item


def test_an_item_names_a_template_the_organiser_may_use(
    make_rush: Any, tree: Tree, bob: User, alice: User, charlie: User
) -> None:
    activity, _ = make_rush((), publish=False)
    own = make_template(bob, tree.tianhe, [], quantity=5)
    above = make_template(alice, tree.province, [], name="全省影院通兑券", quantity=50)
    elsewhere = make_template(charlie, tree.nanshan, [], name="南山餐券")
    item = rush.add_item(actor=bob, activity=activity, name="温泉票", stock=5, coupon_template_id=own.pk)
    assert item.coupon_template == own
    rush.update_item(actor=bob, activity=activity, item=item, name="影院票", stock=40, coupon_template_id=above.pk)
    assert RushItem.objects.get(pk=item.pk).coupon_template == above

    def refused(template: CouponTemplate, stock: int = 1) -> str:
        with pytest.raises(InvalidValue) as exc:
            rush.add_item(actor=bob, activity=activity, name="券", stock=stock, coupon_template_id=template.pk)
        return exc.value.code

    assert refused(elsewhere) == "COUPON_TEMPLATE_OUTSIDE"
    assert refused(own, stock=6) == "RUSH_COUPON_STOCK"
    CouponTemplate.objects.filter(pk=own.pk).update(status=TemplateStatus.PAUSED)
    assert refused(own) == "COUPON_TEMPLATE_INACTIVE"
    rush.update_item(actor=bob, activity=activity, item=item, name="普通票", stock=5)
    assert RushItem.objects.get(pk=item.pk).coupon_template is None


def test_a_grab_issues_exactly_one_coupon_with_the_grant(make_rush: Any, members: Any, tree: Tree, bob: User) -> None:
    template = make_template(bob, tree.tianhe, [], quantity=10)
    activity, item = coupon_rush(make_rush, template, stock=2)
    first, second, third = members(3)
    grant = rush.attempt(activity=activity, member=first, item_id=item.pk).grant
    assert grant is not None and grant.coupon is not None
    coupon = Coupon.objects.get(member=first)
    assert grant.coupon == coupon and coupon.status == CouponStatus.ISSUED
    assert (coupon.source, coupon.source_id) == (CouponSource.RUSH, str(activity.pk))
    assert coupon.idempotency_key == f"rush:{activity.pk}:{first.pk}"
    # A second press of the same member: no second grant, no second coupon.
    with pytest.raises(rush.AlreadyGranted):
        rush.grab(activity=activity, member=first, item_id=item.pk)
    assert rush.attempt(activity=activity, member=second, item_id=item.pk).grant is not None
    with pytest.raises(rush.SoldOut):  # sold out: the coupon stock is not touched
        rush.attempt(activity=activity, member=third, item_id=item.pk)
    assert Coupon.objects.filter(source=CouponSource.RUSH).count() == 2 == Grant.objects.count()
    assert CouponTemplate.objects.get(pk=template.pk).issued == 2
    assert RushItem.objects.get(pk=item.pk).remaining == 0
    assert check_coupons().ok


def test_a_refused_coupon_rolls_the_grant_back(make_rush: Any, members: Any, tree: Tree, bob: User) -> None:
    """No grant without its coupon: a verified-only coupon and a member not verified."""
    template = make_template(bob, tree.tianhe, [], quantity=10, verified_only=True)
    activity, item = coupon_rush(make_rush, template)
    [member] = members(1)
    with pytest.raises(DomainError) as exc:
        rush.attempt(activity=activity, member=member, item_id=item.pk)
    assert exc.value.code == "COUPON_VERIFIED_ONLY"
    assert not Grant.objects.exists() and not Participation.objects.filter(activity=activity).exists()
    assert not Coupon.objects.exists() and RushItem.objects.get(pk=item.pk).remaining == 3
    assert CouponTemplate.objects.get(pk=template.pk).issued == 0


def test_cancelling_revokes_the_unused_coupon_and_returns_the_unit(
    make_rush: Any, members: Any, tree: Tree, bob: User
) -> None:
    template = make_template(bob, tree.tianhe, [], quantity=10)
    activity, item = coupon_rush(make_rush, template, settings=LATER)
    [member] = members(1)
    rush.attempt(activity=activity, member=member, item_id=item.pk)
    with mock.patch("django.db.transaction.on_commit", lambda f: f()):
        grant = rush.cancel(activity=activity, member=member)
    assert grant.status == GrantStatus.CANCELLED and grant.coupon is not None
    assert grant.coupon.status == CouponStatus.REVOKED
    assert RushItem.objects.get(pk=item.pk).remaining == 3
    revoked = AuditEvent.objects.get(action="coupon.revoke", object_id=str(grant.coupon.pk))
    assert revoked.details["source"] == CouponSource.RUSH
    with pytest.raises(Conflict) as twice:
        rush.cancel(activity=activity, member=member)
    assert twice.value.code == "RUSH_NOT_CANCELLABLE"
    assert RushItem.objects.get(pk=item.pk).remaining == 3 and Coupon.objects.count() == 1
    assert AuditEvent.objects.filter(action="coupon.revoke").count() == 1
    assert check_coupons().ok


def test_a_used_coupon_makes_the_ticket_not_cancellable(
    make_rush: Any, members: Any, tree: Tree, bob: User, spa: Merchant, cashier: User
) -> None:
    template = make_template(bob, tree.tianhe, [spa], quantity=10)
    activity, item = coupon_rush(make_rush, template, settings=LATER)
    [member] = members(1)
    grant = rush.attempt(activity=activity, member=member, item_id=item.pk).grant
    assert grant is not None and grant.coupon is not None
    coupon_actions.redeem(cashier, grant.coupon.code)
    with pytest.raises(Conflict) as used:
        rush.cancel(activity=activity, member=member)
    assert used.value.code == "RUSH_COUPON_USED" and "已经使用" in used.value.message
    assert Grant.objects.get(pk=grant.pk).status == GrantStatus.GRANTED
    assert Coupon.objects.get(pk=grant.coupon.pk).status == CouponStatus.REDEEMED
    assert RushItem.objects.get(pk=item.pk).remaining == 2
    # The coupon is used at the merchant, not at the gate.
    with pytest.raises(Conflict) as gate:
        rush.redeem(actor=bob, activity=activity, scanned=grant.code)
    assert gate.value.code == "RUSH_REDEEM_COUPON"
    assert check_coupons().ok


def test_cancelling_an_expired_or_revoked_coupon_gives_the_ticket_back(
    make_rush: Any, members: Any, tree: Tree, bob: User
) -> None:
    template = make_template(bob, tree.tianhe, [], quantity=10)
    activity, item = coupon_rush(make_rush, template, settings=LATER)
    [member] = members(1)
    grant = rush.attempt(activity=activity, member=member, item_id=item.pk).grant
    assert grant is not None and grant.coupon is not None
    coupon_actions.revoke(actor=bob, coupon=grant.coupon, reason="发错了")
    assert rush.cancel(activity=activity, member=member).status == GrantStatus.CANCELLED
    assert RushItem.objects.get(pk=item.pk).remaining == 3


def test_portal_and_api_show_the_coupon(
    make_rush: Any, frank: Any, tree: Tree, bob: User, spa: Merchant, cashier: User
) -> None:
    template = make_template(bob, tree.tianhe, [spa], quantity=10)
    activity, item = coupon_rush(make_rush, template, settings=LATER)
    client = Client()
    client.force_login(frank.user)
    fragment = client.post(f"/a/{activity.pk}/rush/grab/", {"item_id": item.pk}, HTTP_HX_REQUEST="true")
    coupon = Coupon.objects.get(member=frank)
    body = fragment.content.decode()
    assert 'data-outcome="won"' in body and f"/me/coupons/{coupon.code}/" in body and "券已放入“我的券”" in body
    page = client.get(f"/a/{activity.pk}/").content.decode()
    assert 'id="rush-coupon"' in page and 'id="rush-code"' not in page
    assert "退券（" in page and "退票" not in page  # the button says what its confirm box says

    api = f"/api/v1/activities/{activity.pk}/rush"
    mine = client.get(api).json()
    assert mine["mine"]["coupon_code"] == coupon.code and mine["mine"]["qr"] == ""
    assert mine["items"][0]["coupon_template_id"] == template.pk
    coupon_actions.redeem(cashier, coupon.code)
    used = client.post(f"{api}/cancel")
    assert used.status_code == 409 and used.json()["code"] == "RUSH_COUPON_USED"
    page = client.get(f"/a/{activity.pk}/").content.decode()
    assert "确定退券吗" not in page  # no cancel button for a used coupon

    console = console_client(bob)
    items = console.get(f"/console/activities/{activity.pk}/rush/items/").content.decode()
    assert f"券：{template.name}" in items
    grants = console.get(f"/console/activities/{activity.pk}/rush/grants/").content.decode()
    assert "券已使用" in grants
    assert console.get(f"{api}/items").json()[0]["coupon_template_id"] == template.pk


def test_the_api_grab_returns_the_coupon_and_cancel_revokes_it(
    make_rush: Any, frank: Any, tree: Tree, bob: User
) -> None:
    template = make_template(bob, tree.tianhe, [], quantity=10)
    activity, item = coupon_rush(make_rush, template, settings=LATER)
    client = Client()
    client.force_login(frank.user)
    api = f"/api/v1/activities/{activity.pk}/rush"
    grabbed = client.post(f"{api}/grab", {"item_id": item.pk}, content_type="application/json").json()
    assert grabbed["result"] == "granted" and grabbed["grant"]["coupon_code"] == Coupon.objects.get().code
    assert grabbed["grant"]["coupon_status"] == "issued" and grabbed["grant"]["qr"] == ""
    cancelled = client.post(f"{api}/cancel").json()
    assert cancelled["status"] == "cancelled" and cancelled["coupon_status"] == "revoked"


def test_the_console_adds_a_coupon_item(make_rush: Any, tree: Tree, bob: User) -> None:
    template = make_template(bob, tree.tianhe, [], quantity=10)
    activity, _ = make_rush((), publish=False)
    client = console_client(bob)
    url = f"/console/activities/{activity.pk}/rush/items/"
    assert template.name in client.get(url).content.decode()
    response = client.post(url, {"name": "温泉票", "stock": "5", "coupon_template": template.pk})
    assert response.status_code == 302
    item = RushItem.objects.get(activity=activity)
    assert item.coupon_template == template
    too_many = client.post(url, {"name": "温泉票", "stock": "50", "coupon_template": template.pk})
    assert too_many.status_code == 400 and "只剩" in too_many.content.decode()
    edit = client.post(f"{url}{item.pk}/", {"name": "温泉票", "stock": "4", "coupon_template": ""})
    assert edit.status_code == 302 and RushItem.objects.get(pk=item.pk).coupon_template is None


def test_the_ticket_names_the_coupon_without_a_query_per_coupon(
    make_rush: Any, tree: Tree, bob: User, frank: Member, django_assert_num_queries: Any
) -> None:
    template = make_template(bob, tree.tianhe, [], name="从化温泉双人票", quantity=5)
    activity, item = coupon_rush(make_rush, template, settings=LATER)
    grant = rush.attempt(activity=activity, member=frank, item_id=item.pk).grant
    assert grant is not None and grant.coupon_id is not None

    request = RequestFactory().get(f"/a/{activity.pk}/")
    request.user = frank.user
    panel = activity_rush.panel_context(request, activity, frank)
    with django_assert_num_queries(0):
        html = render_to_string("portal/activities/rush/panel.html", {"panel": panel, "activity": activity})
    assert "券：从化温泉双人票" in html and 'id="rush-coupon"' in html
