"""Acceptance on PostgreSQL: no oversell, no member twice, cancellations return exactly one unit.

Real threads, each with its own database connection, start together at a barrier and
race for the stock. Each test names the protection it proves; with that protection
removed (the conditional UPDATE replaced by read-then-write, the unique constraints
dropped, the cancel's conditional status change replaced by a read) it fails.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db.models import Count
from django.utils import timezone

from gonghui.activities.kinds.rush import actions as rush
from gonghui.activities.kinds.rush.models import Grant, GrantStatus, RushItem
from gonghui.activities.models import Participation
from gonghui.testing.concurrency import on_postgres_only, race, tally

pytestmark = [
    pytest.mark.postgres_only,
    on_postgres_only,
    pytest.mark.django_db(transaction=True),
]

THREADS = 40  # the calls share these threads (each with its connection), started together


def test_200_members_twice_each_for_50_tickets(make_rush: Any, members: Any) -> None:
    crowd = members(200)
    activity, [item] = make_rush((50,))
    # Every member presses twice (a double tap, a second phone); the attempts interleave.
    calls = [
        (lambda m=m: rush.grab(activity=activity, member=m, item_id=item.pk)) for m in crowd for _press in range(2)
    ]
    outcomes = tally(race(*calls, workers=THREADS, timeout=300))

    assert outcomes["ok"] == 50, outcomes
    assert sum(outcomes.values()) == 400
    assert set(outcomes) <= {"ok", "RUSH_SOLD_OUT", "RUSH_ALREADY"}, outcomes
    item.refresh_from_db()
    assert item.remaining == 0
    grants = Grant.objects.filter(activity=activity)
    assert grants.count() == 50
    assert grants.values("member").distinct().count() == 50
    assert not grants.values("member").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert Participation.objects.filter(activity=activity).count() == 50
    assert set(Participation.objects.filter(activity=activity).values_list("member", flat=True)) == set(
        grants.values_list("member", flat=True)
    )
    assert not RushItem.objects.filter(remaining__lt=0).exists()


def test_double_presses_never_give_a_member_two_tickets(make_rush: Any, members: Any) -> None:
    crowd = members(60)
    activity, [a, b] = make_rush((500, 500))
    # Plenty of stock: only the one-per-member guard stands between a double press and a
    # second ticket (each press picks a different train).
    calls = [(lambda m=m, i=i: rush.grab(activity=activity, member=m, item_id=i.pk)) for m in crowd for i in (a, b)]
    outcomes = tally(race(*calls, workers=THREADS, timeout=300))

    assert outcomes["ok"] == 60, outcomes
    assert outcomes["RUSH_ALREADY"] == 60, outcomes
    grants = Grant.objects.filter(activity=activity)
    assert grants.count() == 60 and grants.values("member").distinct().count() == 60
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.remaining + b.remaining == 1000 - 60


def test_a_cancelled_ticket_returns_exactly_one_unit(make_rush: Any, members: Any) -> None:
    crowd = members(30)
    later = (timezone.now() + timedelta(days=1)).isoformat()
    activity, [item] = make_rush((30,), settings={"cancel_deadline": later})
    for m in crowd:
        rush.grab(activity=activity, member=m, item_id=item.pk)
    assert RushItem.objects.get(pk=item.pk).remaining == 0
    # Each member cancels three times at once (a nervous finger).
    calls = [(lambda m=m: rush.cancel(activity=activity, member=m)) for m in crowd for _tap in range(3)]
    outcomes = tally(race(*calls, workers=THREADS, timeout=300))

    assert outcomes["ok"] == 30, outcomes
    assert outcomes["RUSH_NOT_CANCELLABLE"] == 60, outcomes
    item.refresh_from_db()
    assert item.remaining == 30
    assert Grant.objects.filter(activity=activity, status=GrantStatus.CANCELLED).count() == 30
