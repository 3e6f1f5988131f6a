"""The portal's generic activity pages: "activities for me", the activity page with the
"am I eligible?" answer before the member acts, and "my activities"."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from gonghui.activities import actions
from gonghui.activities.models import Activity
from gonghui.activities.tests.conftest import PlainKind, make_activity
from gonghui.conftest import Tree, make_member
from gonghui.core.models import User
from gonghui.members.models import Member

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _plain(plain_kind: PlainKind) -> PlainKind:
    return plain_kind


def member_client(member: Member) -> Client:
    if member.user is None:
        user = User.objects.create_user(f"m{member.pk}", password="correct-horse-battery", name=member.name)
        member.user = user
        member.save(update_fields=["user"])
    client = Client()
    client.force_login(member.user)
    return client


def test_eligible_member_sees_the_green_answer(tree: Tree, frank: Member) -> None:
    activity = make_activity(
        tree.tianhe, publish=True, description="<p>欢迎<strong>参加</strong></p>", rules="每人一次"
    )
    response = member_client(frank).get(reverse("portal:activity_detail", args=[activity.pk]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "你可以参加" in body and 'data-code="OK"' in body
    assert "<strong>参加</strong>" in body  # the sanitised description is rendered as HTML
    assert "每人一次" in body
    assert activity.org.name in body


def test_member_outside_the_audience_sees_the_reason_not_a_404(tree: Tree) -> None:
    activity = make_activity(tree.tianhe, publish=True)
    outsider = make_member(tree.nanshan_union, "南山会员")
    response = member_client(outsider).get(reverse("portal:activity_detail", args=[activity.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-code="AUDIENCE_OUTSIDE"' in body
    assert "本活动面向天河区总工会及其下属工会的会员" in body
    assert "你可以参加" not in body


def test_filters_give_their_reason(tree: Tree, frank: Member) -> None:
    activity = make_activity(tree.tianhe, publish=True, verified_only=True)
    body = member_client(frank).get(reverse("portal:activity_detail", args=[activity.pk])).content.decode()
    assert 'data-code="AUDIENCE_VERIFIED_ONLY"' in body
    assert "请先完成实名认证" in body


def test_not_started_and_participated(tree: Tree, frank: Member) -> None:
    from datetime import timedelta

    from django.utils import timezone

    later = make_activity(
        tree.tianhe,
        publish=True,
        starts_at=timezone.now() + timedelta(days=1),
        ends_at=timezone.now() + timedelta(days=2),
    )
    client = member_client(frank)
    body = client.get(reverse("portal:activity_detail", args=[later.pk])).content.decode()
    assert 'data-code="ACTIVITY_NOT_STARTED"' in body and "活动尚未开始" in body

    now_open = make_activity(tree.tianhe, publish=True)
    assert actions.record_participation(now_open, frank)
    body = client.get(reverse("portal:activity_detail", args=[now_open.pk])).content.decode()
    assert 'data-code="PLAIN_DONE"' in body and "您已参加本活动" in body


def test_anonymous_visitor_gets_a_login_prompt(tree: Tree) -> None:
    activity = make_activity(tree.tianhe, publish=True)
    response = Client().get(reverse("portal:activity_detail", args=[activity.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-code="NOT_A_MEMBER"' in body
    assert reverse("portal:login") in body


def test_draft_is_404(tree: Tree, frank: Member) -> None:
    activity = make_activity(tree.tianhe)
    assert member_client(frank).get(reverse("portal:activity_detail", args=[activity.pk])).status_code == 404


def test_activities_for_me(tree: Tree, frank: Member) -> None:
    mine = make_activity(tree.tianhe, publish=True, title="天河的活动")
    province = make_activity(tree.province, publish=True, title="全省的活动")
    make_activity(tree.nanshan, publish=True, title="南山的活动")
    make_activity(tree.tianhe, title="天河的草稿")
    make_activity(tree.tianhe, publish=True, title="只限快递员", audience_groups=["courier"])
    response = member_client(frank).get(reverse("portal:activities"))
    assert response.status_code == 200
    titles = {c["a"].title for c in response.context["cards"]}
    assert titles == {mine.title, province.title}


def test_activities_for_a_visitor_prompts_login(tree: Tree) -> None:
    response = Client().get(reverse("portal:activities"))
    assert response.status_code == 200
    assert reverse("portal:login") in response.content.decode()


def test_my_activities(tree: Tree, frank: Member) -> None:
    one = make_activity(tree.tianhe, publish=True, title="参加过的")
    make_activity(tree.tianhe, publish=True, title="没参加的")
    actions.record_participation(one, frank)
    response = member_client(frank).get(reverse("portal:my_activities"))
    assert response.status_code == 200
    assert [c["a"].title for c in response.context["rows"]] == ["参加过的"]


def test_kind_without_interface_module_has_no_panel(tree: Tree, frank: Member) -> None:
    activity: Activity = make_activity(tree.tianhe, publish=True)
    response: Any = member_client(frank).get(reverse("portal:activity_detail", args=[activity.pk]))
    assert response.context["panel_template"] == ""
    assert 'id="activity-panel"' not in response.content.decode()
