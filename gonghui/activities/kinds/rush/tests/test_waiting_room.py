"""The waiting room: places in arrival order, admission at the rate, tokens that cannot be forged."""

from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
from django.core import signing
from django.test import override_settings

from gonghui.activities.kinds.rush import actions as rush
from gonghui.activities.kinds.rush import waiting_room
from gonghui.activities.kinds.rush.models import Grant
from gonghui.activities.kinds.rush.waiting_room import AdmissionInvalid

pytestmark = pytest.mark.django_db


def frozen_room_clock(at: datetime) -> Any:
    """The waiting room's clock stopped at ``at`` (eligibility keeps the real one)."""
    return mock.patch.object(waiting_room, "timezone", SimpleNamespace(now=lambda: at))


@override_settings(RUSH_ADMIT_BURST=5)
def test_the_line_moves_at_the_rate_from_the_opening(make_rush: Any) -> None:
    activity, _ = make_rush((5,), settings={"admit_rate": 10})
    opening = activity.starts_at
    assert waiting_room.admitted_up_to(activity, opening - timedelta(seconds=30)) == 5
    assert waiting_room.admitted_up_to(activity, opening) == 5
    assert waiting_room.admitted_up_to(activity, opening + timedelta(seconds=1)) == 15
    assert waiting_room.admitted_up_to(activity, opening + timedelta(seconds=2.55)) == 30


@override_settings(RUSH_ADMIT_BURST=2, RUSH_ADMIT_RATE=4)
def test_arrivals_get_places_in_order_and_are_admitted_over_time(make_rush: Any) -> None:
    activity, _ = make_rush((5,), opens_in=timedelta(0))
    at = activity.starts_at
    stands = [waiting_room.arrive(activity, member_id, now=at) for member_id in range(101, 108)]
    assert [s.ticket for s in stands] == [1, 2, 3, 4, 5, 6, 7]
    assert [s.admitted for s in stands] == [True, True, False, False, False, False, False]
    assert [s.place for s in stands] == [0, 0, 1, 2, 3, 4, 5]
    assert [s.wait_seconds for s in stands] == [0, 0, 1, 1, 1, 1, 2]  # 4 a second
    # Coming back (a reload, a direct call without the token) keeps the same ticket.
    again = waiting_room.arrive(activity, 105, now=at)
    assert again.ticket == 5 and again.place == 3
    # Half a second later two more are in; the token proves the place.
    later = waiting_room.arrive(activity, 105, stands[4].token, now=at + timedelta(seconds=0.5))
    assert later.ticket == 5 and later.place == 1 and not later.admitted
    admitted = waiting_room.arrive(activity, 105, stands[4].token, now=at + timedelta(seconds=0.75))
    assert admitted.admitted and admitted.place == 0


def test_tokens_cannot_be_forged_or_borrowed(make_rush: Any) -> None:
    activity, _ = make_rush((5,))
    other, _ = make_rush((5,))
    token = waiting_room.token_for(activity, 7, 12)
    assert waiting_room.ticket_from_token(activity, 7, token) == 12
    payload = signing.loads(token, salt=waiting_room.SALT)
    bad = [
        "",
        "not-a-token",
        token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB"),  # a changed signature
        signing.dumps({**payload, "t": 1}, salt="made-up"),  # a better number, not signed by us
        signing.dumps({**payload, "t": 1}),  # signed, but not as an admission
    ]
    for forged in bad:
        with pytest.raises(AdmissionInvalid):
            waiting_room.ticket_from_token(activity, 7, forged)
    with pytest.raises(AdmissionInvalid):
        waiting_room.ticket_from_token(activity, 8, token)  # another member's token
    with pytest.raises(AdmissionInvalid):
        waiting_room.ticket_from_token(other, 7, token)  # another rush's token


@override_settings(RUSH_ADMIT_BURST=1, RUSH_ADMIT_RATE=1)
def test_a_queued_member_waits_then_grabs_with_the_token(make_rush: Any, members: Any) -> None:
    activity, [item] = make_rush((5,))
    first, second, third = members(3)
    clock = frozen_room_clock(activity.starts_at + timedelta(seconds=0.2))
    clock.start()
    assert rush.attempt(activity=activity, member=first, item_id=item.pk).grant is not None
    waiting = rush.attempt(activity=activity, member=second, item_id=item.pk)
    assert waiting.queued and waiting.admission is not None and waiting.admission.place == 1
    # Calling the grab again without the token does not jump the queue.
    direct = rush.attempt(activity=activity, member=second, item_id=item.pk)
    assert direct.queued and direct.admission is not None and direct.admission.ticket == 2
    # A forged token is refused outright.
    with pytest.raises(AdmissionInvalid):
        rush.attempt(activity=activity, member=second, item_id=item.pk, token=waiting_room.token_for(activity, 99, 1))
    # Someone else's genuine token is refused too.
    third_place = rush.attempt(activity=activity, member=third, item_id=item.pk).admission
    assert third_place is not None
    with pytest.raises(AdmissionInvalid):
        rush.attempt(activity=activity, member=second, item_id=item.pk, token=third_place.token)
    assert Grant.objects.count() == 1
    # A second later the line has passed ticket 2: the poll with the token grabs.
    clock.stop()
    with frozen_room_clock(activity.starts_at + timedelta(seconds=1.2)):
        done = rush.attempt(activity=activity, member=second, item_id=item.pk, token=waiting.admission.token)
    assert done.grant is not None and done.grant.member_id == second.pk


@override_settings(RUSH_ADMIT_BURST=1, RUSH_ADMIT_RATE=1)
def test_everyone_waiting_hears_sold_out_at_once(make_rush: Any, members: Any) -> None:
    activity, [item] = make_rush((1,))
    first, second, third = members(3)
    with frozen_room_clock(activity.starts_at + timedelta(seconds=0.2)):
        waiting = [rush.attempt(activity=activity, member=m, item_id=item.pk) for m in (first, second, third)]
    assert waiting[0].grant is not None and waiting[1].queued and waiting[2].queued
    # A second later ticket 2 is admitted and finds no stock.
    clock = frozen_room_clock(activity.starts_at + timedelta(seconds=1.2))
    clock.start()
    assert waiting[1].admission is not None and waiting[2].admission is not None
    with pytest.raises(rush.SoldOut):
        rush.attempt(activity=activity, member=second, item_id=item.pk, token=waiting[1].admission.token)
    # Ticket 3 is still far from admission, yet its next poll says 已抢完.
    with pytest.raises(rush.SoldOut) as sold:
        rush.attempt(activity=activity, member=third, item_id=item.pk, token=waiting[2].admission.token)
    assert "已抢完" in sold.value.message
    clock.stop()
