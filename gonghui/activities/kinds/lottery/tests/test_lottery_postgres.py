"""Acceptance on PostgreSQL: one lottery entry per member, however many taps arrive at once;
and no entry slips in after the draw has read the entry list.

Real threads, each with its own connection, start together at a barrier. The protection
proven: the unique constraints (participation, entry) as the last line of
``actions.enter`` — with the refusal on ``record_participation`` removed and the entry's
unique constraint dropped, the first test fails with several entries for one member.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gonghui.activities import actions as activity_actions
from gonghui.activities.kinds.lottery import actions
from gonghui.activities.kinds.lottery.models import Entry, Win
from gonghui.activities.kinds.lottery.tests.conftest import LotteryFactory
from gonghui.activities.models import Participation
from gonghui.members.models import Member
from gonghui.testing.concurrency import on_postgres_only, race, tally

pytestmark = [
    pytest.mark.postgres_only,
    on_postgres_only,
    pytest.mark.django_db(transaction=True),
]


def test_the_same_member_entering_in_parallel_gets_exactly_one_entry(
    make_lottery: LotteryFactory, members: Callable[[int], list[Member]]
) -> None:
    activity = make_lottery()
    crowd = members(5)
    # Each member taps 8 times at once (a double tap, two phones, a retrying client).
    calls = [(lambda m=m: actions.enter(member=m, activity=activity)) for m in crowd for _tap in range(8)]
    outcomes = tally(race(*calls, timeout=120))
    assert outcomes["ok"] == 5, outcomes
    assert sum(outcomes.values()) == 40
    assert set(outcomes) <= {"ok", "LOTTERY_ALREADY_ENTERED", "LOTTERY_ENTERED"}, outcomes
    for member in crowd:
        assert Entry.objects.filter(activity=activity, member=member).count() == 1
        assert Participation.objects.filter(activity=activity, member=member).count() == 1


def test_entries_racing_the_close_are_either_drawn_or_refused(
    make_lottery: LotteryFactory, members: Callable[[int], list[Member]]
) -> None:
    """The draw's row lock waits for entries in flight; later ones see the activity closed."""
    activity = make_lottery(prizes=(("奖", 100, 0),))  # more prizes than people: everyone entered wins
    crowd = members(30)
    calls: list[Callable[[], Any]] = [(lambda m=m: actions.enter(member=m, activity=activity)) for m in crowd]
    calls.insert(15, lambda: activity_actions.close_activity(actor=None, activity=activity))
    outcomes = tally(race(*calls, timeout=120))
    assert outcomes["ok"] >= 1 and sum(outcomes.values()) == 31, outcomes
    entered = set(Entry.objects.filter(activity=activity).values_list("pk", flat=True))
    drawn = set(Win.objects.filter(activity=activity).values_list("entry_id", flat=True))
    assert entered == drawn, "an entry was committed after the draw read the list"
