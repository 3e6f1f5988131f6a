"""The member's rush panel names a grabbed coupon from the panel's own queries, not with
one more query per coupon while the page renders."""

from __future__ import annotations

from typing import Any

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory

from gonghui.activities.kinds.rush import actions as rush
from gonghui.activities.kinds.rush.tests.test_rush_coupons import LATER, coupon_rush
from gonghui.conftest import Tree
from gonghui.core.models import User
from gonghui.coupons.tests.conftest import make_template
from gonghui.members.models import Member
from gonghui.portal.views import activity_rush

pytestmark = pytest.mark.django_db


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
