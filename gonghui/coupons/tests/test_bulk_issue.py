"""普惠发放: one coupon to each member of a filtered subtree, in the background, resumable."""

from __future__ import annotations

import pytest
from django.http import Http404

from gonghui.conftest import Tree, make_member
from gonghui.core.errors import InvalidValue
from gonghui.core.models import AuditEvent, User
from gonghui.coupons import actions
from gonghui.coupons.checks import check_coupons
from gonghui.coupons.models import BulkIssue, BulkIssueStatus, Coupon, Merchant
from gonghui.coupons.tests.conftest import make_template, verify
from gonghui.members.models import Member

pytestmark = pytest.mark.django_db


def test_a_killed_run_resumes_and_issues_nothing_twice(
    bob: User, tree: Tree, spa: Merchant, frank: Member, django_capture_on_commit_callbacks: object
) -> None:
    template = make_template(bob, tree.tianhe, [spa], verified_only=True)
    members = [verify(make_member(tree.tianhe_union, f"会员{i}")) for i in range(6)]
    make_member(tree.nanshan_union, "深圳人")  # outside the audience
    # frank is not verified: skipped with a reason, not an error.
    job = actions.start_bulk_issue(actor=bob, template=template, org=tree.tianhe, filters={})
    assert job.total == 7
    actions.run_bulk_issue(job.pk, chunk=2, limit=3)  # the worker dies after three members
    job.refresh_from_db()
    assert (job.status, job.processed) == (BulkIssueStatus.RUNNING, 3)
    actions.run_bulk_issue(job.pk, chunk=2)  # resumed
    job.refresh_from_db()
    assert job.status == BulkIssueStatus.DONE
    assert (job.processed, job.issued, job.skipped) == (7, 6, 1)
    assert job.skip_reasons == {"COUPON_VERIFIED_ONLY": 1}
    assert set(Coupon.objects.values_list("member_id", flat=True)) == {m.pk for m in members}
    actions.run_bulk_issue(job.pk)  # a late duplicate run changes nothing
    assert Coupon.objects.count() == 6
    template.refresh_from_db()
    assert template.issued == 6
    assert check_coupons().ok
    assert AuditEvent.objects.filter(action="coupon.bulk_issue_done").count() == 1
    assert not AuditEvent.objects.filter(action="coupon.issue").exists()  # one audit row per run, not per coupon


def test_the_run_stops_when_stock_runs_out(bob: User, tree: Tree, spa: Merchant) -> None:
    template = make_template(bob, tree.tianhe, [spa], quantity=2)
    for i in range(4):
        make_member(tree.tianhe_union, f"会员{i}")
    job = actions.start_bulk_issue(actor=bob, template=template, org=tree.tianhe_union, filters={})
    actions.run_bulk_issue(job.pk)
    job.refresh_from_db()
    assert job.status == BulkIssueStatus.STOPPED and job.issued == 2 and "库存已发完" in job.error


def test_filters_and_scope(bob: User, charlie: User, tree: Tree, spa: Merchant) -> None:
    template = make_template(bob, tree.tianhe, [spa])
    retired = make_member(tree.tianhe_union, "退休的")
    Member.objects.filter(pk=retired.pk).update(status="retained")
    make_member(tree.tianhe_union, "在职的")
    job = actions.start_bulk_issue(actor=bob, template=template, org=tree.tianhe, filters={"status": ["retained"]})
    assert job.total == 1
    with pytest.raises(InvalidValue):
        actions.start_bulk_issue(actor=bob, template=template, org=tree.tianhe, filters={"colour": ["red"]})
    with pytest.raises(Http404):
        actions.start_bulk_issue(actor=charlie, template=template, org=tree.nanshan, filters={})
    assert BulkIssue.objects.count() == 1


def test_stale_runs_are_resumed(bob: User, tree: Tree, spa: Merchant) -> None:
    from datetime import timedelta

    from django.utils import timezone

    template = make_template(bob, tree.tianhe, [spa])
    make_member(tree.tianhe_union, "会员")
    job = actions.start_bulk_issue(actor=bob, template=template, org=tree.tianhe, filters={})
    assert actions.resume_stale_bulk_issues() == []
    BulkIssue.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=10))
    assert actions.resume_stale_bulk_issues() == [job.pk]
