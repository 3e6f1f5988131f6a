"""保留会籍, restore, 退会, and the inactivity review (flag, never remove)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from gonghui.conftest import Tree, make_member
from gonghui.core.errors import DomainError
from gonghui.core.models import AuditEvent, User
from gonghui.inbox.models import Message
from gonghui.members import housekeeping, lifecycle, transfers
from gonghui.members.history import history
from gonghui.members.models import EmploymentStatus, EventKind, Member, MemberStatus, Transfer, TransferStatus


def kinds(member: Member) -> list[str]:
    return [e.kind for e in history(member)]


def test_retired_member_keeps_membership_at_the_union_without_a_vote(tree: Tree, frank: Member, dave: User) -> None:
    assert frank.has_vote
    lifecycle.retain(actor=dave, member=frank, reason="retired", note="2024 年退休")
    frank.refresh_from_db()
    assert frank.status == MemberStatus.RETAINED and frank.retain_reason == "retired"
    assert frank.org == tree.tianhe_union
    assert frank.employment_status == EmploymentStatus.RETIRED
    assert not frank.has_vote
    assert kinds(frank) == [EventKind.JOINED, EventKind.RETAINED]
    assert "2024 年退休" in history(frank).last().note  # type: ignore[union-attr]
    assert AuditEvent.objects.filter(action="member.retain", object_id=str(frank.pk)).exists()
    assert Message.objects.filter(member=frank, title__contains="保留会籍").exists()


def test_retained_members_vote_where_the_province_allows(frank: Member, dave: User, settings: Any) -> None:
    lifecycle.retain(actor=dave, member=frank, reason="unemployed")
    frank.refresh_from_db()
    settings.RETAINED_MEMBERS_VOTE = True
    assert frank.has_vote


def test_retain_refuses_a_closed_union_reason_and_a_second_time(frank: Member, dave: User) -> None:
    with pytest.raises(DomainError) as caught:
        lifecycle.retain(actor=dave, member=frank, reason="union_closed")
    assert caught.value.code == "RETAIN_REASON_INVALID"
    lifecycle.retain(actor=dave, member=frank, reason="retired")
    with pytest.raises(DomainError) as caught:
        lifecycle.retain(actor=dave, member=frank, reason="retired")
    assert caught.value.code == "MEMBER_NOT_ACTIVE"


def test_retaining_cancels_an_open_transfer(tree: Tree, frank: Member, dave: User) -> None:
    assert frank.user is not None
    transfer = transfers.request_transfer(actor=frank.user, member=frank, to_org=tree.nanshan_union)
    lifecycle.retain(actor=dave, member=frank, reason="unemployed")
    assert Transfer.objects.get(pk=transfer.pk).status == TransferStatus.CANCELLED


def test_restore_after_reemployment(frank: Member, dave: User) -> None:
    lifecycle.retain(actor=dave, member=frank, reason="unemployed")
    lifecycle.restore(actor=dave, member=frank)
    frank.refresh_from_db()
    assert frank.status == MemberStatus.ACTIVE and frank.retain_reason == ""
    assert frank.employment_status == EmploymentStatus.EMPLOYED and frank.has_vote
    assert kinds(frank)[-1] == EventKind.RESTORED
    with pytest.raises(DomainError) as caught:
        lifecycle.restore(actor=dave, member=frank)
    assert caught.value.code == "MEMBER_NOT_RETAINED"


def test_another_districts_cadre_may_not_retain(frank: Member, charlie: User) -> None:
    with pytest.raises(DomainError) as caught:
        lifecycle.retain(actor=charlie, member=frank, reason="retired")
    assert caught.value.code == "MEMBER_ACTION_NOT_ALLOWED"
    frank.refresh_from_db()
    assert frank.status == MemberStatus.ACTIVE


def test_member_leaves_voluntarily_and_the_record_stays(frank: Member) -> None:
    assert frank.user is not None
    with pytest.raises(DomainError) as caught:
        lifecycle.leave(actor=frank.user, member=frank, reason="expelled")
    assert caught.value.code == "LEAVE_REASON_INVALID"
    lifecycle.leave(actor=frank.user, member=frank, reason="voluntary", note="个人原因")
    frank.refresh_from_db()
    assert frank.status == MemberStatus.LEFT and frank.leave_reason == "voluntary" and frank.left_at
    assert frank.user is not None and frank.card_number == Member.objects.get(pk=frank.pk).card_number
    assert not frank.has_vote
    assert kinds(frank)[-1] == EventKind.LEFT
    assert AuditEvent.objects.filter(action="member.leave", details__by="member").exists()
    with pytest.raises(DomainError) as caught:
        lifecycle.leave(actor=frank.user, member=frank)
    assert caught.value.code == "MEMBER_ALREADY_LEFT"


def test_expulsion_needs_its_grounds(frank: Member, dave: User) -> None:
    with pytest.raises(DomainError) as caught:
        lifecycle.leave(actor=dave, member=frank, reason="expelled")
    assert caught.value.code == "LEAVE_NOTE_REQUIRED"
    lifecycle.leave(actor=dave, member=frank, reason="expelled", note="（2024）粤0106刑初1号判决")
    assert Member.objects.get(pk=frank.pk).leave_reason == "expelled"


def test_someone_else_may_not_leave_for_a_member(frank: Member) -> None:
    other = User.objects.create_user("13900000077", password="x-correct-horse", name="他人")
    with pytest.raises(DomainError) as caught:
        lifecycle.leave(actor=other, member=frank)
    assert caught.value.code == "MEMBER_ACTION_NOT_ALLOWED"


# --- inactivity review ------------------------------------------------------------------


def test_months_before_clamps_the_day() -> None:
    moment = datetime(2024, 8, 31, 12, tzinfo=timezone.get_current_timezone())
    assert lifecycle.months_before(moment, 6).date() == date(2024, 2, 29)
    assert lifecycle.months_before(moment, 12).date() == date(2023, 8, 31)


def test_inactive_members_are_flagged_for_review_never_removed(tree: Tree, dave: User, settings: Any) -> None:
    settings.INACTIVE_REVIEW_MONTHS = 6
    now = timezone.now()
    old = make_member(tree.tianhe_union, "老张", join_date=date(2020, 1, 1))
    recent = make_member(tree.tianhe_union, "小李", join_date=date(2020, 1, 1))
    Member.objects.filter(pk=recent.pk).update(last_active_at=now - timedelta(days=30))
    stale = make_member(tree.tianhe_union, "小王", join_date=date(2020, 1, 1))
    Member.objects.filter(pk=stale.pk).update(last_active_at=now - timedelta(days=200))
    newcomer = make_member(tree.tianhe_union, "新人", join_date=timezone.localdate() - timedelta(days=10))
    retired = make_member(tree.tianhe_union, "退休", join_date=date(2020, 1, 1))
    lifecycle.retain(actor=dave, member=retired, reason="retired")  # pays no dues: not reviewed

    assert lifecycle.flag_inactive(now, batch=1, span=2) == 2  # tiny batches and spans walk everything
    flagged = set(Member.objects.exclude(inactive_flagged_at=None).values_list("pk", flat=True))
    assert flagged == {old.pk, stale.pk}
    assert Member.objects.filter(status=MemberStatus.ACTIVE).count() == 4  # nobody removed or changed status
    assert lifecycle.flag_inactive(now) == 0  # idempotent
    assert kinds(old)[-1] == EventKind.FLAGGED_INACTIVE
    assert history(old).filter(kind=EventKind.FLAGGED_INACTIVE).count() == 1
    assert newcomer.pk not in flagged


def test_clearing_the_flag_restarts_the_clock(tree: Tree, dave: User) -> None:
    old = make_member(tree.tianhe_union, "老张", join_date=date(2020, 1, 1))
    lifecycle.flag_inactive()
    lifecycle.clear_inactive_flag(actor=dave, member=old, note="已电话联系，继续缴费")
    old.refresh_from_db()
    assert old.inactive_flagged_at is None and old.last_active_at is not None
    assert lifecycle.flag_inactive() == 0
    with pytest.raises(DomainError) as caught:
        lifecycle.clear_inactive_flag(actor=dave, member=old)
    assert caught.value.code == "MEMBER_NOT_FLAGGED"


def test_housekeeping_command_is_idempotent_and_prints_counts(tree: Tree, frank: Member, settings: Any) -> None:
    make_member(tree.tianhe_union, "老张", join_date=date(2020, 1, 1))
    assert frank.user is not None
    transfer = transfers.request_transfer(actor=frank.user, member=frank, to_org=tree.nanshan_union)
    Transfer.objects.filter(pk=transfer.pk).update(release_due_at=timezone.now() - timedelta(days=1))
    out = StringIO()
    call_command("membership_housekeeping", stdout=out)
    assert "escalated transfers: 1" in out.getvalue()
    assert "flagged inactive members: 2" in out.getvalue()  # frank joined 2020 and was never active
    out = StringIO()
    call_command("membership_housekeeping", stdout=out)
    assert "escalated transfers: 0" in out.getvalue() and "flagged inactive members: 0" in out.getvalue()


def test_housekeeping_task_runs_on_the_worker(tree: Tree) -> None:
    make_member(tree.tianhe_union, "老张", join_date=date(2020, 1, 1))
    result = housekeeping.membership_housekeeping.enqueue()
    assert result.return_value == {"escalated": 0, "flagged": 1, "resumed_imports": 0, "resumed_verifications": 0}
