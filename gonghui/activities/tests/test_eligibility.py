"""``eligibility.check``: one reason code per rule, in the order a member wants them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from gonghui.activities import actions, eligibility
from gonghui.activities.eligibility import NotEligible
from gonghui.activities.tests.conftest import PlainKind, make_activity
from gonghui.conftest import Tree, make_member
from gonghui.members.models import Member, MemberStatus, VerificationStatus
from gonghui.orgs import actions as org_actions

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _plain(plain_kind: PlainKind) -> PlainKind:
    return plain_kind


def set_member(member: Member, **values: Any) -> Member:
    # Test set-up of states the membership actions reach through longer flows.
    Member.objects.filter(pk=member.pk).update(**values)
    member.refresh_from_db()
    return member


def code(activity: Any, member: Member | None) -> str:
    return eligibility.check(activity, member).code


def test_eligible(tree: Tree) -> None:
    member = make_member(tree.tianhe_union)
    answer = eligibility.check(make_activity(tree.tianhe, publish=True), member)
    assert answer.ok and bool(answer) and answer.code == ""


def test_not_a_member(tree: Tree) -> None:
    assert code(make_activity(tree.tianhe, publish=True), None) == "NOT_A_MEMBER"


def test_window(tree: Tree) -> None:
    member = make_member(tree.tianhe_union)
    now = timezone.now()
    later = make_activity(
        tree.tianhe, publish=True, starts_at=now + timedelta(hours=2), ends_at=now + timedelta(days=1)
    )
    answer = eligibility.check(later, member)
    assert answer.code == "ACTIVITY_NOT_STARTED"
    assert timezone.localtime(later.starts_at).strftime("%Y-%m-%d %H:%M") in answer.reason
    ended = make_activity(tree.tianhe, publish=True)
    assert code(ended, member) == ""
    assert eligibility.check(ended, member, now=ended.ends_at + timedelta(seconds=1)).code == "ACTIVITY_ENDED"
    assert code(make_activity(tree.tianhe), member) == "ACTIVITY_NOT_PUBLISHED"


def test_outside_the_subtree(tree: Tree) -> None:
    assert code(make_activity(tree.tianhe, publish=True), make_member(tree.nanshan_union)) == "AUDIENCE_OUTSIDE"


def test_member_not_active(tree: Tree) -> None:
    member = set_member(make_member(tree.tianhe_union), status=MemberStatus.LEFT)
    assert code(make_activity(tree.tianhe, publish=True), member) == "MEMBER_NOT_ACTIVE"


def test_retained_members(tree: Tree) -> None:
    member = set_member(make_member(tree.tianhe_union), status=MemberStatus.RETAINED)
    assert code(make_activity(tree.tianhe, publish=True), member) == ""
    assert code(make_activity(tree.tianhe, publish=True, exclude_retained=True), member) == "AUDIENCE_RETAINED"


def test_verified_only(tree: Tree) -> None:
    member = make_member(tree.tianhe_union)
    activity = make_activity(tree.tianhe, publish=True, verified_only=True)
    assert code(activity, member) == "AUDIENCE_VERIFIED_ONLY"
    assert code(activity, set_member(member, verification_status=VerificationStatus.VERIFIED)) == ""


def test_new_employment_group(tree: Tree) -> None:
    activity = make_activity(tree.tianhe, publish=True, audience_groups=["courier"])
    assert code(activity, make_member(tree.tianhe_union)) == "AUDIENCE_GROUP"
    assert code(activity, make_member(tree.tianhe_union, "快递小哥", new_employment_group="courier")) == ""


def test_industry(tree: Tree) -> None:
    activity = make_activity(tree.tianhe, publish=True, audience_industries=["软件和信息技术服务业"])
    member = make_member(tree.tianhe_union)
    assert code(activity, member) == "AUDIENCE_INDUSTRY"
    org_actions.update_org(actor=None, org=tree.tianhe_union, values={"industry": "软件和信息技术服务业"})
    member.refresh_from_db()
    member.org.refresh_from_db()
    assert code(activity, member) == ""


def test_union_tag(tree: Tree) -> None:
    activity = make_activity(tree.tianhe, publish=True, audience_tags=["非公企业"])
    member = make_member(tree.tianhe_union)
    assert code(activity, member) == "AUDIENCE_TAG"
    org_actions.set_tags(actor=None, org=tree.tianhe_union, tags=["非公企业"])
    assert code(activity, member) == ""


def test_member_list(tree: Tree) -> None:
    listed = make_member(tree.tianhe_union, "名单内")
    other = make_member(tree.tianhe_union, "名单外")
    activity = make_activity(tree.tianhe, member_list_only=True)
    actions.set_audience_members(actor=None, activity=activity, members=[listed])
    activity = actions.publish_activity(actor=None, activity=activity)
    assert code(activity, listed) == ""
    assert code(activity, other) == "AUDIENCE_LIST"


def test_kind_rule_comes_last(tree: Tree) -> None:
    member = make_member(tree.tianhe_union)
    activity = make_activity(tree.tianhe, publish=True)
    actions.record_participation(activity, member)
    assert code(activity, member) == "PLAIN_DONE"
    # The window is explained before the kind's own rule.
    assert eligibility.check(activity, member, now=activity.ends_at).code == "ACTIVITY_ENDED"


def test_require_raises_with_code_and_chinese_reason(tree: Tree) -> None:
    activity = make_activity(tree.tianhe, publish=True)
    with pytest.raises(NotEligible) as caught:
        eligibility.require(activity, make_member(tree.nanshan_union))
    assert caught.value.code == "AUDIENCE_OUTSIDE" and caught.value.status == 403
    assert "天河区总工会" in caught.value.message
    member = make_member(tree.tianhe_union)
    assert eligibility.require(activity, member) == member
