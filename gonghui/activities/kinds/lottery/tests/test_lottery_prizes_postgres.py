"""Races on PostgreSQL for coupon prizes: the draw or the redraw started several times at
once (two cron hosts, a retried task, a double click on 开奖) issues each winner's coupon
exactly once. The activity row lock serialises the runs; the later ones find the draw done
or nothing overdue, and the coupon key ``lottery:<activity>:<prize>:<member>`` is the last
line behind them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from django.db import close_old_connections
from django.utils import timezone

from gonghui.activities import actions as activity_actions
from gonghui.activities.kinds.lottery import actions
from gonghui.activities.kinds.lottery.models import Win, WinStatus
from gonghui.activities.kinds.lottery.tests.conftest import LotteryFactory
from gonghui.activities.models import Activity
from gonghui.conftest import Tree
from gonghui.core.models import User
from gonghui.coupons.checks import check_coupons
from gonghui.coupons.models import Coupon, CouponSource, CouponTemplate
from gonghui.coupons.tests.conftest import make_template, verify
from gonghui.members.models import Member
from gonghui.testing.concurrency import on_postgres_only, race, tally

pytestmark = [on_postgres_only, pytest.mark.django_db(transaction=True)]


def coupon_lottery(make_lottery: LotteryFactory, template: CouponTemplate, quantity: int) -> Activity:
    activity = make_lottery(prizes=(), publish=False, settings={"manual_draw": True})
    actions.add_prize(
        actor=None,
        activity=activity,
        values={"name": "温泉券", "quantity": quantity, "order": 1, "coupon_template_id": template.pk},
    )
    return activity_actions.publish_activity(actor=None, activity=activity)


def _draw(user_id: int, activity_id: int) -> list[Win]:
    close_old_connections()
    return actions.run_draw(actor=User.objects.get(pk=user_id), activity=Activity.objects.get(pk=activity_id))


def _redraw(activity_id: int, now: datetime) -> list[Win]:
    close_old_connections()
    return actions.redraw_activity(Activity.objects.get(pk=activity_id), now=now)


def test_draws_started_together_issue_each_coupon_once(
    make_lottery: LotteryFactory, members: Callable[[int], list[Member]], tree: Tree, bob: User
) -> None:
    template = make_template(bob, tree.tianhe, [], quantity=10)
    activity = coupon_lottery(make_lottery, template, quantity=3)
    for member in members(6):
        actions.enter(member=member, activity=activity)
    activity_actions.close_activity(actor=bob, activity=activity)
    outcomes = tally(race(*[(lambda: _draw(bob.pk, activity.pk)) for _ in range(4)]))
    assert outcomes == {"ok": 1, "LOTTERY_ALREADY_DRAWN": 3}, outcomes
    wins = list(Win.objects.filter(activity=activity))
    assert len(wins) == 3 and {w.status for w in wins} == {WinStatus.HANDED_OVER}
    coupons = Coupon.objects.filter(source=CouponSource.LOTTERY, source_id=str(activity.pk))
    assert sorted(coupons.values_list("member_id", flat=True)) == sorted(w.entry.member_id for w in wins)
    assert CouponTemplate.objects.get(pk=template.pk).issued == 3
    assert check_coupons().ok, check_coupons().failures


def test_redraws_started_together_issue_each_new_winners_coupon_once(
    make_lottery: LotteryFactory, members: Callable[[int], list[Member]], tree: Tree, bob: User
) -> None:
    """A verified-only coupon: nobody is verified at the draw, so both wins wait; the
    winners let the deadline pass, everyone verifies, and four redraws start at once."""
    template = make_template(bob, tree.tianhe, [], quantity=10, verified_only=True)
    activity = coupon_lottery(make_lottery, template, quantity=2)
    people = members(6)
    for member in people:
        actions.enter(member=member, activity=activity)
    activity_actions.close_activity(actor=bob, activity=activity)
    actions.run_draw(actor=bob, activity=activity)
    assert not Coupon.objects.exists()
    for member in people:
        verify(member)
    later = timezone.now() + timedelta(days=8)
    results = race(*[(lambda: _redraw(activity.pk, later)) for _ in range(4)])
    assert sorted(len(r) for r in results) == [0, 0, 0, 2], results
    new = list(Win.objects.filter(activity=activity, round=1))
    assert len(new) == 2 and {w.status for w in new} == {WinStatus.HANDED_OVER}
    assert Win.objects.filter(activity=activity, round=2).count() == 0
    coupons = Coupon.objects.filter(source=CouponSource.LOTTERY, source_id=str(activity.pk))
    assert sorted(coupons.values_list("member_id", flat=True)) == sorted(w.entry.member_id for w in new)
    assert CouponTemplate.objects.get(pk=template.pk).issued == 2
    assert check_coupons().ok, check_coupons().failures
