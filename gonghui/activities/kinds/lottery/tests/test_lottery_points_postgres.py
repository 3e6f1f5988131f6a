"""Races on PostgreSQL for a lottery that costs points: one member tapping eight times at
once pays once; members entering while the lottery closes pay exactly when their entry
made it into the draw.

Checked by removing the protections by hand (docs/ACTIVITIES.md, "抽奖 lottery"):

- the first test holds while either of its two guards is in place — the spend inside the
  entry's transaction after the participation guard, or the ledger key
  ``lottery-entry:<activity>:<member>`` — and fails with both removed (the spend taken in
  its own transaction before the entry, under a key per request: eight spends, one entry);
- the second test fails as soon as the spend leaves the entry's transaction, key or no key:
  a member refused by the close has paid for nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import close_old_connections

from gonghui.activities import actions as activity_actions
from gonghui.activities.kinds.lottery import actions
from gonghui.activities.kinds.lottery.models import Entry, Win
from gonghui.activities.kinds.lottery.tests.conftest import LotteryFactory
from gonghui.activities.models import Activity, Participation
from gonghui.members.models import Member
from gonghui.points import ledger
from gonghui.points.checks import check_points
from gonghui.points.models import Entry as PointsEntry
from gonghui.points.models import EntryKind
from gonghui.testing.concurrency import on_postgres_only, race, tally

pytestmark = [on_postgres_only, pytest.mark.django_db(transaction=True)]

COST = 50


def _enter(member_id: int, activity_id: int) -> Entry:
    close_old_connections()
    return actions.enter(member=Member.objects.get(pk=member_id), activity=Activity.objects.get(pk=activity_id))


def _spends(member: Member) -> int:
    return PointsEntry.objects.filter(account__member=member, kind=EntryKind.SPEND).count()


def test_one_member_tapping_eight_times_at_once_pays_once(
    make_lottery: LotteryFactory, members: Callable[[int], list[Member]]
) -> None:
    activity = make_lottery(settings={"points_cost": COST})
    crowd = members(3)
    for member in crowd:
        ledger.earn(member=member, amount=COST * 5, key=f"test:give:{member.pk}")
    calls = [(lambda m=m: _enter(m.pk, activity.pk)) for m in crowd for _tap in range(8)]
    outcomes = tally(race(*calls))
    assert outcomes["ok"] == 3 and sum(outcomes.values()) == 24, outcomes
    assert set(outcomes) <= {"ok", "LOTTERY_ALREADY_ENTERED", "LOTTERY_ENTERED"}, outcomes
    for member in crowd:
        assert Entry.objects.filter(activity=activity, member=member).count() == 1
        assert Participation.objects.filter(activity=activity, member=member).count() == 1
        assert _spends(member) == 1, "the same member paid more than once"
        assert ledger.balance_of(member) == COST * 4
    assert check_points().ok, check_points().failures


def test_members_racing_the_close_pay_exactly_when_their_entry_is_drawn(
    make_lottery: LotteryFactory, members: Callable[[int], list[Member]]
) -> None:
    activity = make_lottery(prizes=(("奖", 100, 0),), settings={"points_cost": COST})
    crowd = members(24)
    for member in crowd:
        ledger.earn(member=member, amount=COST, key=f"test:give:{member.pk}")
    calls: list[Callable[[], Any]] = [(lambda m=m: _enter(m.pk, activity.pk)) for m in crowd]
    calls.insert(12, lambda: activity_actions.close_activity(actor=None, activity=activity))
    outcomes = tally(race(*calls))
    assert sum(outcomes.values()) == 25 and outcomes["ok"] >= 1, outcomes
    assert set(outcomes) <= {"ok", "ACTIVITY_ENDED"}, outcomes
    drawn = set(Win.objects.filter(activity=activity).values_list("entry__member_id", flat=True))
    assert drawn == set(Entry.objects.filter(activity=activity).values_list("member_id", flat=True))
    for member in crowd:
        paid = _spends(member)
        assert paid == (1 if member.pk in drawn else 0), f"{member.name} paid {paid} times"
        assert ledger.balance_of(member) == (0 if member.pk in drawn else COST)
    assert check_points().ok, check_points().failures
