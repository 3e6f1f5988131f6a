"""Acceptance on PostgreSQL: sign-up capacity is exact under concurrency, with promotions.

Each thread has its own connection and transaction, released together by a barrier:

- 3 × capacity members sign up at once: exactly ``capacity`` are confirmed and the rest
  are waitlisted, in the order they reached the seat row (registration ids are drawn
  while that row is held, so id order is arrival order).
- Every confirmed member cancels at once while the waitlisted members confirm (or
  decline) their offers as soon as they see them and two offer-expiry workers run
  with a clock past every deadline: confirmed never exceeds capacity, the counter row
  agrees with the registrations, and every freed seat went to exactly one member — the
  first ones in line, nobody skipped, nobody offered twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from gonghui.activities.kinds.signup import actions
from gonghui.activities.kinds.signup.models import Registration, RegistrationStatus, Seats
from gonghui.activities.kinds.signup.tests.helpers import open_signup
from gonghui.conftest import Tree, make_member
from gonghui.core.errors import DomainError
from gonghui.members.models import Member
from gonghui.testing.concurrency import on_postgres_only, race

pytestmark = [
    pytest.mark.postgres_only,
    on_postgres_only,
    pytest.mark.django_db(transaction=True),
]

S = RegistrationStatus
CAPACITY = 8


def members(tree: Tree, n: int) -> list[Member]:
    return [make_member(tree.tianhe_union, f"并发{i}", mobile=f"1390000{i:04d}") for i in range(n)]


def test_three_times_capacity_sign_up_at_once_exactly_capacity_confirmed_rest_waitlisted_in_order(
    tree: Tree,
) -> None:
    activity = open_signup(tree.tianhe_union, capacity=CAPACITY, waitlist_enabled=True)
    people = members(tree, 3 * CAPACITY)

    def job(member: Member) -> Callable[[], Registration]:
        return lambda: actions.sign_up(member=member, activity=activity)

    results = race(*[job(m) for m in people], timeout=120)
    errors = [r for r in results if isinstance(r, Exception)]
    assert errors == []

    regs = list(Registration.objects.filter(activity=activity).order_by("pk"))
    assert len(regs) == 3 * CAPACITY
    assert [r.status for r in regs] == [S.CONFIRMED] * CAPACITY + [S.WAITLISTED] * (2 * CAPACITY)
    assert [r.position for r in regs[CAPACITY:]] == list(range(1, 2 * CAPACITY + 1))
    seats = Seats.objects.get(pk=activity.pk)
    assert (seats.taken, seats.waiting, seats.last_position) == (CAPACITY, 2 * CAPACITY, 2 * CAPACITY)


def test_parallel_cancellations_and_confirmations_keep_capacity_and_offer_each_freed_seat_once(
    tree: Tree,
) -> None:
    activity = open_signup(tree.tianhe_union, capacity=CAPACITY, waitlist_enabled=True, confirm_hours=1)
    people = members(tree, 3 * CAPACITY)
    for member in people:
        actions.sign_up(member=member, activity=activity)
    seated, waiting = people[:CAPACITY], people[CAPACITY:]
    deadline = time.monotonic() + 20
    stop = threading.Event()

    def cancel(member: Member) -> Callable[[], str]:
        def go() -> str:
            reg = Registration.objects.get(activity=activity, member=member, status=S.CONFIRMED)
            return str(actions.cancel(member=member, registration=reg).status)

        return go

    def answer(member: Member, decline: bool) -> Callable[[], str]:
        def go() -> str:
            # Confirm (or decline) the offer as soon as it shows up; it may expire first.
            while time.monotonic() < deadline and not stop.is_set():
                reg = Registration.objects.filter(activity=activity, member=member).order_by("-pk").first()
                assert reg is not None
                if reg.status == S.OFFERED:
                    try:
                        if decline:
                            return str(actions.decline_offer(member=member, registration=reg).status)
                        return str(actions.confirm_offer(member=member, registration=reg).status)
                    except DomainError as exc:
                        return exc.code
                if reg.status != S.WAITLISTED:
                    return str(reg.status)
                time.sleep(0.005)
            return "still-waiting"

        return go

    def expirer() -> int:
        # A clock past every offer's deadline: each offer races its member's confirmation.
        total = 0
        while time.monotonic() < deadline and not stop.is_set():
            total += actions.expire_offers(timezone.now() + timedelta(hours=2))
            time.sleep(0.01)
        return total

    jobs: list[Callable[[], Any]] = [cancel(m) for m in seated]
    jobs += [answer(m, decline=(i % 5 == 4)) for i, m in enumerate(waiting)]
    jobs += [expirer, expirer]

    def stopper() -> None:
        # Let the waiters and the expiry workers run until nothing is left to move.
        while time.monotonic() < deadline:
            time.sleep(0.2)
            if not Registration.objects.filter(activity=activity, status=S.OFFERED).exists() and all(
                Registration.objects.filter(activity=activity, member=m).order_by("-pk").first().status != S.CONFIRMED  # type: ignore[union-attr]
                for m in seated
            ):
                time.sleep(0.3)
                if not Registration.objects.filter(activity=activity, status=S.OFFERED).exists():
                    break
        stop.set()

    results = race(*jobs, stopper, timeout=120)
    cancels = results[:CAPACITY]
    assert cancels == [S.CANCELLED] * CAPACITY, cancels

    regs = list(Registration.objects.filter(activity=activity).order_by("pk"))
    by_status = {s: [r for r in regs if r.status == s] for s in S.values}
    seats = Seats.objects.get(pk=activity.pk)
    confirmed = len(by_status[S.CONFIRMED])
    assert confirmed <= CAPACITY
    assert seats.taken == confirmed + len(by_status[S.OFFERED]) <= CAPACITY
    assert seats.waiting == len(by_status[S.WAITLISTED])

    # Every freed seat was offered to exactly one member, first in line first: the
    # members ever offered are a prefix of the waitlist by position.
    offered_ever = [r for r in regs if r.offered_at is not None]
    freed = CAPACITY + len(by_status[S.EXPIRED]) + len(by_status[S.DECLINED])
    assert len(offered_ever) == min(freed, 2 * CAPACITY)
    line = sorted((r for r in regs if r.position is not None), key=lambda r: r.position or 0)
    assert [r.pk for r in line[: len(offered_ever)]] == sorted(
        (r.pk for r in offered_ever), key=lambda pk: next(x.position for x in line if x.pk == pk) or 0
    )
    assert all(r.offered_at is None for r in line[len(offered_ever) :])
    # And while members were still waiting, no seat went back to the pool.
    if by_status[S.WAITLISTED]:
        assert seats.taken == CAPACITY
