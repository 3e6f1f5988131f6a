"""Races on PostgreSQL for a rush of coupons: a crowd grabbing coupon tickets gets exactly
as many coupons as grants; a member giving a ticket back while a cashier redeems its coupon
ends one way or the other, never both; parallel cancels revoke once and return one unit.

Checked by removing the protection by hand (docs/ACTIVITIES.md, "抢票 rush"): with the
revocation made unconditional (``status='issued'`` dropped from ``revoke_unused``) the
cancel-versus-redeem test fails in every run: a coupon the cashier had just redeemed is
revoked and its ticket given back as well.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import close_old_connections
from django.utils import timezone

from gonghui.activities import actions as activity_actions
from gonghui.activities.kinds.rush import actions as rush
from gonghui.activities.kinds.rush.models import Grant, GrantStatus, RushItem
from gonghui.activities.models import Activity
from gonghui.conftest import Tree
from gonghui.core.audit import AuditEvent
from gonghui.core.models import User
from gonghui.coupons import actions as coupon_actions
from gonghui.coupons.checks import check_coupons
from gonghui.coupons.models import Coupon, CouponStatus, CouponTemplate
from gonghui.coupons.tests.conftest import make_template
from gonghui.members.models import Member
from gonghui.testing.concurrency import on_postgres_only, race, tally

pytestmark = [on_postgres_only, pytest.mark.django_db(transaction=True)]

LATER = {"cancel_deadline": (timezone.now() + timedelta(days=1)).isoformat()}


def coupon_rush(make_rush: Any, template: CouponTemplate, stock: int) -> tuple[Activity, RushItem]:
    activity, _ = make_rush((), publish=False, settings=LATER)
    item = rush.add_item(actor=None, activity=activity, name="温泉双人票", stock=stock, coupon_template_id=template.pk)
    return activity_actions.publish_activity(actor=None, activity=activity), item


def _grab(member_id: int, activity_id: int, item_id: int) -> Grant:
    close_old_connections()
    activity = Activity.objects.get(pk=activity_id)
    return rush.grab(activity=activity, member=Member.objects.get(pk=member_id), item_id=item_id)


def _cancel(member_id: int, activity_id: int) -> Grant:
    close_old_connections()
    return rush.cancel(activity=Activity.objects.get(pk=activity_id), member=Member.objects.get(pk=member_id))


def _redeem(cashier_id: int, code: str) -> Any:
    close_old_connections()
    return coupon_actions.redeem(User.objects.get(pk=cashier_id), code)


def test_a_crowd_gets_exactly_one_coupon_per_grant(make_rush: Any, members: Any, tree: Tree, bob: User) -> None:
    template = make_template(bob, tree.tianhe, [], quantity=20)
    activity, item = coupon_rush(make_rush, template, stock=5)
    crowd = members(16)
    calls = [(lambda m=m: _grab(m.pk, activity.pk, item.pk)) for m in crowd for _press in range(2)]
    outcomes = tally(race(*calls, workers=16))
    assert outcomes["ok"] == 5, outcomes
    assert set(outcomes) <= {"ok", "RUSH_SOLD_OUT", "RUSH_ALREADY"}, outcomes
    grants = list(Grant.objects.filter(activity=activity).select_related("coupon"))
    assert len(grants) == 5 and all(g.coupon is not None and g.coupon.member_id == g.member_id for g in grants)
    assert Coupon.objects.count() == 5 == CouponTemplate.objects.get(pk=template.pk).issued
    assert RushItem.objects.get(pk=item.pk).remaining == 0
    assert check_coupons().ok, check_coupons().failures


def test_giving_back_while_the_coupon_is_redeemed_ends_one_way(
    make_rush: Any, members: Any, tree: Tree, bob: User
) -> None:
    spa = coupon_actions.create_merchant(actor=bob, org=tree.tianhe, values={"name": "从化碧泉温泉"})
    cashier = coupon_actions.add_merchant_user(actor=bob, merchant=spa, mobile="13711110001").user
    template = make_template(bob, tree.tianhe, [spa], quantity=20)
    crowd = members(6)
    activity, item = coupon_rush(make_rush, template, stock=len(crowd))
    grants = [rush.grab(activity=activity, member=m, item_id=item.pk) for m in crowd]
    calls = []
    for member, grant in zip(crowd, grants, strict=True):
        assert grant.coupon is not None
        calls += [
            lambda m=member: _cancel(m.pk, activity.pk),
            lambda c=grant.coupon.code: _redeem(cashier.pk, c),
        ]
    results = race(*calls)
    returned = 0
    for i, grant in enumerate(grants):
        cancel, redeem = results[2 * i], results[2 * i + 1]
        grant.refresh_from_db()
        coupon = Coupon.objects.get(pk=grant.coupon_id)
        if isinstance(cancel, Grant):  # the ticket went back first: the coupon is void
            assert getattr(redeem, "code", None) == "COUPON_REVOKED", redeem
            assert (grant.status, coupon.status) == (GrantStatus.CANCELLED, CouponStatus.REVOKED)
            returned += 1
        else:  # the coupon was used first: the ticket stays
            assert getattr(cancel, "code", None) == "RUSH_COUPON_USED", cancel
            assert isinstance(redeem, coupon_actions.Redeemed), redeem
            assert (grant.status, coupon.status) == (GrantStatus.GRANTED, CouponStatus.REDEEMED)
    assert RushItem.objects.get(pk=item.pk).remaining == returned
    assert check_coupons().ok, check_coupons().failures


def test_parallel_cancels_revoke_once_and_return_one_unit(make_rush: Any, members: Any, tree: Tree, bob: User) -> None:
    template = make_template(bob, tree.tianhe, [], quantity=20)
    crowd = members(3)
    activity, item = coupon_rush(make_rush, template, stock=3)
    for member in crowd:
        rush.grab(activity=activity, member=member, item_id=item.pk)
    outcomes = tally(race(*[(lambda m=m: _cancel(m.pk, activity.pk)) for m in crowd for _tap in range(4)]))
    assert outcomes == {"ok": 3, "RUSH_NOT_CANCELLABLE": 9}, outcomes
    assert RushItem.objects.get(pk=item.pk).remaining == 3
    assert set(Coupon.objects.values_list("status", flat=True)) == {CouponStatus.REVOKED}
    assert AuditEvent.objects.filter(action="coupon.revoke").count() == 3
