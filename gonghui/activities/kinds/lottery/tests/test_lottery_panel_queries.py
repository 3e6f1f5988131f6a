"""The member's lottery panel names a coupon prize from the panel's own queries, not with
one more query per coupon while the page renders."""

from __future__ import annotations

from typing import Any

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory

from gonghui.activities import actions as activity_actions
from gonghui.activities.kinds.lottery import actions
from gonghui.activities.kinds.lottery.tests.conftest import LotteryFactory
from gonghui.activities.kinds.lottery.tests.test_lottery_prizes import coupon_lottery
from gonghui.conftest import Tree
from gonghui.core.models import User
from gonghui.coupons.tests.conftest import make_template
from gonghui.members.models import Member
from gonghui.portal.views import activity_lottery

pytestmark = pytest.mark.django_db


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
