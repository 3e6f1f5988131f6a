"""Prizes that are coupons: which templates a lottery may give away, one coupon per winner
however often the draw and the redraw run, the claim step as the retry, and the pages."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.template.loader import render_to_string
from django.test import Client, RequestFactory
from django.utils import timezone

from gonghui.activities import actions as activity_actions
from gonghui.activities.kinds.lottery import actions, tasks
from gonghui.activities.kinds.lottery.models import Prize, Win, WinStatus
from gonghui.activities.kinds.lottery.tests.conftest import LotteryFactory
from gonghui.activities.models import Activity
from gonghui.conftest import Tree, console_client
from gonghui.core.audit import AuditEvent
from gonghui.core.errors import Conflict, InvalidValue
from gonghui.core.models import User
from gonghui.coupons.models import Coupon, CouponSource, CouponStatus, CouponTemplate, TemplateStatus
from gonghui.coupons.tests.conftest import make_template, verify
from gonghui.inbox.models import Message
from gonghui.members.models import Member
from gonghui.portal.views import activity_lottery

pytestmark = pytest.mark.django_db


def coupon_lottery(
    make_lottery: LotteryFactory, template: CouponTemplate, *, coupons: int = 2, others: int = 1, **settings: Any
) -> Activity:
    """A lottery with a coupon prize first (``coupons`` units) and a prize handed over in person."""
    activity = make_lottery(prizes=(), publish=False, settings=settings or None)
    actions.add_prize(
        actor=None,
        activity=activity,
        values={"name": "温泉券", "quantity": coupons, "order": 1, "coupon_template_id": template.pk},
    )
    if others:
        actions.add_prize(actor=None, activity=activity, values={"name": "保温杯", "quantity": others, "order": 2})
    return activity_actions.publish_activity(actor=None, activity=activity)


def enter_all(activity: Activity, people: list[Member]) -> None:
    for member in people:
        actions.enter(member=member, activity=activity)


def lottery_coupons(activity: Activity) -> list[Coupon]:
    return list(Coupon.objects.filter(source=CouponSource.LOTTERY, source_id=str(activity.pk)))


def test_a_prize_names_a_template_of_the_organiser_or_a_union_above(
    make_lottery: LotteryFactory, tree: Tree, bob: User, alice: User, charlie: User
) -> None:
    activity = make_lottery(prizes=(), publish=False)
    own = make_template(bob, tree.tianhe, [], quantity=5)
    above = make_template(alice, tree.province, [], name="全省影院通兑券", quantity=50)
    elsewhere = make_template(charlie, tree.nanshan, [], name="南山餐券")
    prize = actions.add_prize(
        actor=bob, activity=activity, values={"name": "温泉券", "quantity": 5, "coupon_template_id": own.pk}
    )
    assert prize.coupon_template == own
    actions.update_prize(
        actor=bob, prize=prize, values={"name": "影院券", "quantity": 5, "coupon_template_id": above.pk}
    )
    assert Prize.objects.get(pk=prize.pk).coupon_template == above

    def refused(template: CouponTemplate, quantity: int = 1) -> str:
        with pytest.raises(InvalidValue) as exc:
            actions.add_prize(
                actor=bob,
                activity=activity,
                values={"name": "券", "quantity": quantity, "coupon_template_id": template.pk},
            )
        assert exc.value.details.get("field") == "coupon_template"
        return exc.value.code

    assert refused(elsewhere) == "COUPON_TEMPLATE_OUTSIDE"  # another district's coupon
    assert refused(own, quantity=6) == "LOTTERY_COUPON_STOCK"  # fewer coupons than prizes
    CouponTemplate.objects.filter(pk=own.pk).update(status=TemplateStatus.PAUSED)
    assert refused(own) == "COUPON_TEMPLATE_INACTIVE"
    # Taking the coupon off makes it an ordinary prize again.
    actions.update_prize(actor=bob, prize=prize, values={"name": "影院券", "quantity": 5, "coupon_template_id": None})
    assert Prize.objects.get(pk=prize.pk).coupon_template is None


def test_each_winner_gets_one_coupon_however_often_the_draw_and_redraw_run(
    make_lottery: LotteryFactory, members: Callable[[int], list[Member]], tree: Tree, bob: User
) -> None:
    template = make_template(bob, tree.tianhe, [], quantity=10)
    activity = coupon_lottery(make_lottery, template, coupons=2, others=1)
    enter_all(activity, members(6))
    activity_actions.close_activity(actor=None, activity=activity)  # the draw, at close

    coupon_wins = list(Win.objects.filter(activity=activity, prize__coupon_template=template).select_related("entry"))
    assert len(coupon_wins) == 2
    for win in coupon_wins:
        # No claiming step: the coupon is in the wallet and the win is handed over.
        assert win.status == WinStatus.HANDED_OVER and win.coupon is not None
        coupon = win.coupon
        assert coupon.member_id == win.entry.member_id and coupon.status == CouponStatus.ISSUED
        assert coupon.idempotency_key == f"lottery:{activity.pk}:{win.prize_id}:{win.entry.member_id}"
        assert (coupon.source, coupon.source_id) == (CouponSource.LOTTERY, str(activity.pk))
        assert "“我的券”" in Message.objects.get(member_id=win.entry.member_id).body
    cup = Win.objects.get(activity=activity, prize__coupon_template__isnull=True)
    assert cup.status == WinStatus.WON and cup.coupon is None
    draw_audit = AuditEvent.objects.get(action="activity_lottery.draw", object_id=str(activity.pk))
    assert draw_audit.details["coupons_issued"] == 2

    # The draw running again (the close job twice, the task retried) issues nothing more.
    assert activity_actions.finalise_activity(activity) is False
    with transaction.atomic():
        assert actions.draw_locked(activity_actions.lock(activity), actor=None) == []
    # The redraw of the unclaimed cup, twice (cron and a task retry): coupon wins stay.
    later = timezone.now() + timedelta(days=8)
    assert actions.redraw_unclaimed(now=later) == [activity.pk]
    assert actions.redraw_unclaimed(now=later) == []
    Win.objects.filter(activity=activity, status=WinStatus.WON).update(claim_deadline=timezone.now())
    tasks.redraw_unclaimed_task.enqueue()
    tasks.redraw_unclaimed_task.enqueue()

    assert len(lottery_coupons(activity)) == 2
    assert CouponTemplate.objects.get(pk=template.pk).issued == 2
    assert Win.objects.filter(activity=activity, prize__coupon_template=template).count() == 2
    assert set(Win.objects.filter(pk__in=[w.pk for w in coupon_wins]).values_list("status", flat=True)) == {
        WinStatus.HANDED_OVER
    }
    with pytest.raises(Conflict) as exc:
        actions.claim(member=coupon_wins[0].entry.member, win=coupon_wins[0])
    assert exc.value.code == "LOTTERY_ALREADY_CLAIMED"


def test_a_refused_coupon_waits_for_the_claim_and_an_unclaimed_one_is_redrawn_once(
    make_lottery: LotteryFactory, members: Callable[[int], list[Member]], tree: Tree, bob: User
) -> None:
    """A verified-only coupon drawn to members not verified yet: the wins stay ``won``."""
    template = make_template(bob, tree.tianhe, [], quantity=10, verified_only=True)
    activity = coupon_lottery(make_lottery, template, coupons=2, others=0)
    people = members(5)
    enter_all(activity, people)
    activity_actions.close_activity(actor=None, activity=activity)
    first, second = Win.objects.filter(activity=activity).select_related("entry__member", "prize").order_by("slot")
    assert {first.status, second.status} == {WinStatus.WON} and not lottery_coupons(activity)
    draw_audit = AuditEvent.objects.get(action="activity_lottery.draw", object_id=str(activity.pk))
    assert draw_audit.details["coupons_refused"] == {"COUPON_VERIFIED_ONLY": 2}

    with pytest.raises(Conflict) as exc:  # still not verified: told why, nothing issued
        actions.claim(member=first.entry.member, win=first)
    assert exc.value.code == "COUPON_VERIFIED_ONLY"
    for member in people:
        verify(member)
    claimed = actions.claim(member=first.entry.member, win=first)
    assert claimed.status == WinStatus.HANDED_OVER and claimed.coupon is not None
    with pytest.raises(Conflict) as exc:
        actions.claim(member=first.entry.member, win=first)
    assert exc.value.code == "LOTTERY_ALREADY_CLAIMED"

    # The second winner lets the deadline pass: the slot is redrawn and the new winner's
    # coupon is issued by the redraw — once, however often it runs.
    later = timezone.now() + timedelta(days=8)
    assert actions.redraw_unclaimed(now=later) == [activity.pk]
    assert actions.redraw_unclaimed(now=later) == []
    with transaction.atomic():
        assert actions.redraw_activity(activity, now=later) == []
    new = Win.objects.select_related("coupon").get(activity=activity, round=1)
    assert new.status == WinStatus.HANDED_OVER and new.coupon is not None
    assert Win.objects.get(pk=second.pk).status == WinStatus.REDRAWN
    with pytest.raises(Conflict) as exc:
        actions.claim(member=second.entry.member, win=second)
    assert exc.value.code == "LOTTERY_CLAIM_EXPIRED"
    assert sorted(c.member_id for c in lottery_coupons(activity)) == sorted(
        [first.entry.member_id, new.entry.member_id]
    )
    assert CouponTemplate.objects.get(pk=template.pk).issued == 2


def test_pages_and_api_show_the_coupon_in_the_wallet(
    make_lottery: LotteryFactory, members: Callable[[int], list[Member]], tree: Tree, bob: User
) -> None:
    template = make_template(bob, tree.tianhe, [], quantity=10)
    draft = make_lottery(prizes=(), publish=False)
    console = console_client(bob)
    url = f"/console/activities/{draft.pk}/lottery/prizes/"
    form = console.get(url).content.decode()
    assert 'name="coupon_template"' in form and template.name in form
    response = console.post(url, {"name": "温泉券", "quantity": "1", "order": "1", "coupon_template": template.pk})
    assert response.status_code == 302
    assert Prize.objects.get(activity=draft).coupon_template == template
    assert f"券：{template.name}" in console.get(url).content.decode()
    activity = activity_actions.publish_activity(actor=bob, activity=draft)

    (member,) = members(1)
    member.user = User.objects.create_user(f"m{member.pk}", password="correct-horse-battery", name=member.name)
    member.save(update_fields=["user"])
    client = Client()
    client.force_login(member.user)
    actions.enter(member=member, activity=activity)
    activity_actions.close_activity(actor=None, activity=activity)
    coupon = Coupon.objects.get(member=member)

    page = client.get(f"/a/{activity.pk}/").content.decode()
    assert "奖品券已放入“我的券”" in page and f"/me/coupons/{coupon.code}/" in page and "/me/coupons/" in page
    assert "确认领奖" not in page
    results = client.get(f"/a/{activity.pk}/lottery/results/").content.decode()
    assert 'id="lottery-my-coupon"' in results
    assert 'id="lottery-my-coupon"' not in Client().get(f"/a/{activity.pk}/lottery/results/").content.decode()
    wins = client.get(f"/api/v1/activities/{activity.pk}/lottery/me").json()["wins"]
    assert wins[0]["is_coupon"] and wins[0]["coupon_code"] == coupon.code and wins[0]["status"] == "handed_over"
    prizes = console.get(f"/api/v1/activities/{activity.pk}/lottery/prizes").json()
    assert prizes[0]["coupon_template_id"] == template.pk and prizes[0]["coupon_template_name"] == template.name
    winners = console.get(f"/console/activities/{activity.pk}/lottery/winners/").content.decode()
    assert "已发券到会员券包" in winners


def test_the_api_adds_a_coupon_prize_and_refuses_another_districts_template(
    make_lottery: LotteryFactory, tree: Tree, bob: User, charlie: User
) -> None:
    activity = make_lottery(prizes=(), publish=False)
    own = make_template(bob, tree.tianhe, [], quantity=3)
    elsewhere = make_template(charlie, tree.nanshan, [], name="南山餐券")
    client = console_client(bob)
    url = f"/api/v1/activities/{activity.pk}/lottery/prizes"
    body = {"name": "温泉券", "quantity": 3, "coupon_template_id": own.pk}
    created = client.post(url, body, content_type="application/json")
    assert created.status_code == 201 and created.json()["coupon_template_id"] == own.pk
    refused = client.post(url, {**body, "coupon_template_id": elsewhere.pk}, content_type="application/json")
    assert refused.status_code == 400 and refused.json()["code"] == "COUPON_TEMPLATE_OUTSIDE"


def test_the_win_panel_names_the_coupon_without_a_query_per_coupon(
    make_lottery: LotteryFactory, tree: Tree, bob: User, frank: Member, django_assert_num_queries: Any
) -> None:
    template = make_template(bob, tree.tianhe, [], name="从化温泉双人票", quantity=5)
    activity = coupon_lottery(make_lottery, template, coupons=1, others=0)
    actions.enter(member=frank, activity=activity)
    activity_actions.close_activity(actor=None, activity=activity)  # the draw puts the coupon in the wallet

    request = RequestFactory().get(f"/a/{activity.pk}/")
    request.user = frank.user
    panel = activity_lottery.panel_context(request, activity, frank)
    assert [row["win"].coupon_id is not None for row in panel["wins"]] == [True]
    with django_assert_num_queries(0):
        html = render_to_string("portal/activities/lottery/panel.html", {"panel": panel, "activity": activity})
    assert "券：从化温泉双人票" in html
