"""Prizes, entering, the draw's timing, claiming, hand-over and redraw rules."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone

from gonghui.activities import actions as activity_actions
from gonghui.activities.eligibility import NotEligible
from gonghui.activities.kinds.lottery import actions
from gonghui.activities.kinds.lottery.models import Draw, Entry, Prize, Win, WinStatus
from gonghui.activities.kinds.lottery.tests.conftest import LotteryFactory
from gonghui.activities.models import Activity, Participation
from gonghui.conftest import Tree, make_member
from gonghui.core.audit import AuditEvent
from gonghui.core.errors import Conflict, InvalidValue
from gonghui.inbox.models import Message
from gonghui.members.models import Member

pytestmark = pytest.mark.django_db


def test_publishing_needs_a_prize_and_commits_to_a_seed(make_lottery: LotteryFactory) -> None:
    empty = make_lottery(prizes=(), publish=False)
    with pytest.raises(Conflict) as exc:
        activity_actions.publish_activity(actor=None, activity=empty)
    assert exc.value.code == "LOTTERY_NO_PRIZES"
    assert not Draw.objects.filter(activity=empty).exists()

    activity = make_lottery()
    record = Draw.objects.get(activity=activity)
    assert len(record.commitment) == 64 and record.seed_hex == "" and not record.is_drawn
    assert AuditEvent.objects.filter(action="activity_lottery.commit", object_id=str(activity.pk)).exists()


def test_prizes_are_frozen_once_the_activity_opens(make_lottery: LotteryFactory) -> None:
    later = make_lottery(opens_in=timedelta(hours=1))  # published, not started: still editable
    prize = actions.add_prize(actor=None, activity=later, values={"name": "纪念奖", "quantity": 10, "order": 9})
    actions.update_prize(actor=None, prize=prize, values={"name": "纪念奖", "quantity": 12, "order": 9})
    assert Prize.objects.get(pk=prize.pk).quantity == 12

    running = make_lottery()
    prize = Prize.objects.filter(activity=running).first()
    assert prize is not None
    with pytest.raises(Conflict) as exc:
        actions.add_prize(actor=None, activity=running, values={"name": "加奖", "quantity": 1})
    assert exc.value.code == "LOTTERY_PRIZES_FROZEN"
    with pytest.raises(Conflict):
        actions.delete_prize(actor=None, prize=prize)
    with pytest.raises(InvalidValue):
        actions.add_prize(actor=None, activity=later, values={"name": "", "quantity": 1})
    with pytest.raises(InvalidValue):
        actions.add_prize(actor=None, activity=later, values={"name": "零个", "quantity": 0})


def test_one_entry_per_member_with_a_public_code_and_a_participation_row(
    make_lottery: LotteryFactory, members: Callable[[int], list[Member]]
) -> None:
    activity = make_lottery()
    (member,) = members(1)
    entry = actions.enter(member=member, activity=activity)
    assert len(entry.code) == 12 and set(entry.code) <= set("ABCDEFGHJKMNPQRSTUVWXYZ23456789")
    assert Participation.objects.filter(activity=activity, member=member).count() == 1
    with pytest.raises(NotEligible) as exc:
        actions.enter(member=member, activity=activity)
    assert exc.value.code == "LOTTERY_ENTERED"
    assert Entry.objects.filter(activity=activity, member=member).count() == 1


def test_a_second_entry_that_slipped_past_the_check_is_refused_by_the_database(
    make_lottery: LotteryFactory, members: Callable[[int], list[Member]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race in one thread: the eligibility check answers 'not entered yet' twice."""
    activity = make_lottery()
    (member,) = members(1)
    actions.enter(member=member, activity=activity)
    monkeypatch.setattr(type(activity_actions.registry.get("lottery")), "member_check", lambda *a: None)
    with pytest.raises(Conflict) as exc:
        actions.enter(member=member, activity=activity)
    assert exc.value.code == "LOTTERY_ALREADY_ENTERED"
    assert Entry.objects.filter(activity=activity).count() == 1


def test_who_cannot_enter(make_lottery: LotteryFactory, tree: Tree) -> None:
    activity = make_lottery()
    outsider = make_member(tree.nanshan_union, "南山会员")
    with pytest.raises(NotEligible) as exc:
        actions.enter(member=outsider, activity=activity)
    assert exc.value.code == "AUDIENCE_OUTSIDE"
    with pytest.raises(NotEligible):
        actions.enter(member=None, activity=activity)
    not_yet = make_lottery(opens_in=timedelta(hours=2))
    with pytest.raises(NotEligible) as exc:
        actions.enter(member=make_member(tree.tianhe_union, "早到"), activity=not_yet)
    assert exc.value.code == "ACTIVITY_NOT_STARTED"
    activity_actions.close_activity(actor=None, activity=activity)
    with pytest.raises(NotEligible) as exc:
        actions.enter(member=make_member(tree.tianhe_union, "迟到"), activity=activity)
    assert exc.value.code == "ACTIVITY_ENDED"


def test_winners_are_notified_and_the_draw_is_audited_once(
    make_lottery: LotteryFactory, members: Callable[[int], list[Member]]
) -> None:
    activity = make_lottery()
    people = members(8)
    for member in people:
        actions.enter(member=member, activity=activity)
    activity_actions.close_activity(actor=None, activity=activity)
    wins = list(Win.objects.filter(activity=activity).select_related("entry__member", "prize"))
    assert len(wins) == 6
    for win in wins:
        message = Message.objects.get(member=win.entry.member)
        assert win.prize.name in message.title and message.link == f"/a/{activity.pk}/"
    losers = {m.pk for m in people} - {w.entry.member_id for w in wins}
    assert not Message.objects.filter(member_id__in=losers).exists()
    assert activity_actions.finalise_activity(activity) is False  # once only
    assert AuditEvent.objects.filter(action="activity_lottery.draw").count() == 1


def test_manual_draw_waits_for_the_cadre_and_runs_once(
    make_lottery: LotteryFactory, members: Callable[[int], list[Member]], bob: object
) -> None:
    activity = make_lottery(settings={"manual_draw": True})
    for member in members(3):
        actions.enter(member=member, activity=activity)
    with pytest.raises(Conflict) as exc:
        actions.run_draw(actor=bob, activity=activity)
    assert exc.value.code == "LOTTERY_NOT_CLOSED"
    activity_actions.close_activity(actor=bob, activity=activity)
    assert not Win.objects.filter(activity=activity).exists()
    assert Draw.objects.get(activity=activity).seed_hex == ""
    wins = actions.run_draw(actor=bob, activity=activity)
    assert len(wins) == 3
    assert Draw.objects.get(activity=activity).drawn_by == bob
    with pytest.raises(Conflict) as exc:
        actions.run_draw(actor=bob, activity=activity)
    assert exc.value.code == "LOTTERY_ALREADY_DRAWN"


def test_the_periodic_close_draws_a_lottery_whose_time_is_up(
    make_lottery: LotteryFactory, members: Callable[[int], list[Member]]
) -> None:
    activity = make_lottery()
    for member in members(2):
        actions.enter(member=member, activity=activity)
    # Time passes: the window ends (the core's close reads the real clock).
    Activity.objects.filter(pk=activity.pk).update(ends_at=timezone.now() - timedelta(seconds=1))
    assert activity.pk in activity_actions.close_due_activities()
    assert Win.objects.filter(activity=activity).count() == 2


def test_claim_hand_over_and_the_deadline(
    make_lottery: LotteryFactory, members: Callable[[int], list[Member]], bob: object
) -> None:
    activity = make_lottery(prizes=(("奖", 2, 0),), settings={"claim_days": 3})
    people = members(2)
    for member in people:
        actions.enter(member=member, activity=activity)
    activity_actions.close_activity(actor=None, activity=activity)
    first, second = Win.objects.filter(activity=activity).select_related("entry__member").order_by("slot")
    assert abs(first.claim_deadline - (timezone.now() + timedelta(days=3))) < timedelta(minutes=1)

    with pytest.raises(actions.NotFound):
        actions.claim(member=second.entry.member, win=first)
    with pytest.raises(Conflict) as exc:
        actions.hand_over(actor=bob, win=first)
    assert exc.value.code == "LOTTERY_NOT_CLAIMED"
    claimed = actions.claim(member=first.entry.member, win=first)
    assert claimed.status == WinStatus.CLAIMED and len(claimed.claim_code) == 8
    with pytest.raises(Conflict):
        actions.claim(member=first.entry.member, win=first)
    with pytest.raises(InvalidValue):
        actions.hand_over(actor=bob, win=first, claim_code="00000000" if claimed.claim_code != "00000000" else "1")
    done = actions.hand_over(actor=bob, win=first, claim_code=claimed.claim_code)
    assert done.status == WinStatus.HANDED_OVER and done.handed_over_by == bob
    assert AuditEvent.objects.filter(action="activity_lottery.hand_over").count() == 1

    # Past the deadline the second win cannot be claimed any more.
    Win.objects.filter(pk=second.pk).update(claim_deadline=timezone.now() - timedelta(seconds=1))
    with pytest.raises(Conflict) as exc:
        actions.claim(member=second.entry.member, win=second)
    assert exc.value.code == "LOTTERY_CLAIM_EXPIRED"


def test_keep_unclaimed_expires_without_a_redraw(
    make_lottery: LotteryFactory, members: Callable[[int], list[Member]]
) -> None:
    activity = make_lottery(prizes=(("奖", 1, 0),), settings={"keep_unclaimed": True})
    for member in members(3):
        actions.enter(member=member, activity=activity)
    activity_actions.close_activity(actor=None, activity=activity)
    actions.redraw_unclaimed(now=timezone.now() + timedelta(days=30))
    assert list(Win.objects.filter(activity=activity).values_list("status", flat=True)) == [WinStatus.EXPIRED]
    assert Draw.objects.get(activity=activity).redraw_rounds == 0


def test_redraw_is_idempotent_and_claimed_wins_stay(
    make_lottery: LotteryFactory, members: Callable[[int], list[Member]]
) -> None:
    activity = make_lottery(prizes=(("奖", 2, 0),))
    for member in members(6):
        actions.enter(member=member, activity=activity)
    activity_actions.close_activity(actor=None, activity=activity)
    keep = Win.objects.select_related("entry__member").get(activity=activity, slot=1)
    actions.claim(member=keep.entry.member, win=keep)
    later = timezone.now() + timedelta(days=8)
    assert actions.redraw_unclaimed(now=later) == [activity.pk]
    assert actions.redraw_unclaimed(now=later) == []  # the new winner's deadline is later still
    new = Win.objects.get(activity=activity, round=1)
    assert new.slot == 0 and new.entry_id not in {keep.entry_id}
    assert Win.objects.get(pk=keep.pk).status == WinStatus.CLAIMED
    assert Message.objects.filter(member=new.entry.member).count() == 1
