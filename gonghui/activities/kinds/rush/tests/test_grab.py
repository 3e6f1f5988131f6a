"""Grabbing, cancelling and redeeming tickets (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest import mock
from unittest.mock import patch

import pytest
from django.core import signing
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from gonghui.activities import actions, eligibility
from gonghui.activities.kinds.rush import actions as rush
from gonghui.activities.kinds.rush import waiting_room
from gonghui.activities.kinds.rush.models import Grant, GrantStatus, RushItem
from gonghui.activities.models import Participation
from gonghui.core.errors import Conflict, DomainError
from gonghui.core.models import AuditEvent

pytestmark = pytest.mark.django_db

LATER = {"cancel_deadline": (timezone.now() + timedelta(days=1)).isoformat()}


def test_a_member_grabs_one_ticket_and_the_stock_goes_down(make_rush: Any, members: Any) -> None:
    activity, [item] = make_rush((3,))
    [m] = members(1)
    outcome = rush.attempt(activity=activity, member=m, item_id=item.pk)
    assert outcome.grant is not None and not outcome.queued
    grant = outcome.grant
    assert grant.status == GrantStatus.GRANTED and grant.item_id == item.pk
    assert len(grant.code) == rush.CODE_LENGTH and set(grant.code) <= set(rush.CODE_ALPHABET)
    item.refresh_from_db()
    assert item.remaining == 2
    assert Participation.objects.filter(activity=activity, member=m).count() == 1


def test_a_second_grab_is_refused_and_takes_no_stock(make_rush: Any, members: Any) -> None:
    activity, [a, b] = make_rush((3, 3))
    [m] = members(1)
    rush.attempt(activity=activity, member=m, item_id=a.pk)
    with pytest.raises(eligibility.NotEligible) as refused:
        rush.attempt(activity=activity, member=m, item_id=b.pk)
    assert refused.value.code == "RUSH_ALREADY"
    # The constraint answers even when the check is skipped (a race past the check).
    with pytest.raises(rush.AlreadyGranted):
        rush.grab(activity=activity, member=m, item_id=b.pk)
    assert [i.remaining for i in RushItem.objects.order_by("pk")] == [2, 3]
    assert Grant.objects.filter(member=m).count() == 1


def test_sold_out_is_told_and_then_answered_from_the_flag(make_rush: Any, members: Any) -> None:
    activity, [item] = make_rush((1,))
    first, second, third = members(3)
    rush.attempt(activity=activity, member=first, item_id=item.pk)
    with pytest.raises(rush.SoldOut) as sold:
        rush.attempt(activity=activity, member=second, item_id=item.pk)
    assert "已抢完" in sold.value.message
    assert waiting_room.sold_out(activity.pk)
    with CaptureQueriesContext(connection) as queries, pytest.raises(rush.SoldOut):
        rush.attempt(activity=activity, member=third, item_id=item.pk)
    # Only the eligibility's "already grabbed?" look-up: no transaction, no stock row.
    assert len(queries) == 1, [q["sql"] for q in queries]
    item.refresh_from_db()
    assert item.remaining == 0
    assert Grant.objects.count() == 1


def test_one_item_sold_out_leaves_the_others(make_rush: Any, members: Any) -> None:
    activity, [a, b] = make_rush((1, 1))
    first, second = members(2)
    rush.attempt(activity=activity, member=first, item_id=a.pk)
    with pytest.raises(rush.SoldOut) as sold:
        rush.attempt(activity=activity, member=second, item_id=a.pk)
    assert "其他票种" in sold.value.message
    assert not waiting_room.sold_out(activity.pk)
    assert rush.attempt(activity=activity, member=second, item_id=b.pk).grant is not None


def test_the_grab_is_a_few_statements(make_rush: Any, members: Any) -> None:
    activity, [item] = make_rush((5,))
    [m] = members(1)
    # The points receiver's task runs inline under the test task backend; in production it
    # is one task-row INSERT in this transaction. Counted here: the grab's own statements.
    with patch("gonghui.points.receivers.award_task") as points_task, CaptureQueriesContext(connection) as queries:
        rush.attempt(activity=activity, member=m, item_id=item.pk)
    points_task.enqueue.assert_called_once()
    sql = [q["sql"] for q in queries]
    updates = [s for s in sql if s.startswith("UPDATE")]
    assert len(updates) == 1 and '"remaining" > 0' in updates[0] and '"remaining" - 1' in updates[0]
    # exists-check, savepoints/begin, two inserts, one update (and commit bookkeeping)
    assert len(sql) <= 8, sql


def test_nobody_grabs_before_the_opening_or_from_outside(make_rush: Any, members: Any, tree: Any) -> None:
    from gonghui.conftest import make_member

    activity, [item] = make_rush((5,), opens_in=timedelta(minutes=5))
    [m] = members(1)
    with pytest.raises(eligibility.NotEligible) as early:
        rush.attempt(activity=activity, member=m, item_id=item.pk)
    assert early.value.code == "ACTIVITY_NOT_STARTED"
    opened, [open_item] = make_rush((5,))
    outsider = make_member(tree.nanshan_union, "深圳人")
    with pytest.raises(eligibility.NotEligible) as outside:
        rush.attempt(activity=opened, member=outsider, item_id=open_item.pk)
    assert outside.value.code == "AUDIENCE_OUTSIDE"
    assert RushItem.objects.get(pk=open_item.pk).remaining == 5


def test_an_item_of_another_rush_is_unknown(make_rush: Any, members: Any) -> None:
    activity, _items = make_rush((5,))
    _other, [foreign] = make_rush((5,))
    [m] = members(1)
    with pytest.raises(rush.ItemUnknown):
        rush.attempt(activity=activity, member=m, item_id=foreign.pk)
    with pytest.raises(rush.ItemUnknown):
        rush.attempt(activity=activity, member=m, item_id=999_999)
    assert RushItem.objects.get(pk=foreign.pk).remaining == 5
    assert not Grant.objects.exists() and not Participation.objects.exists()


def test_cancelling_returns_exactly_one_unit_and_the_member_does_not_grab_again(make_rush: Any, members: Any) -> None:
    activity, [item] = make_rush((1,), settings=LATER)
    first, second = members(2)
    rush.attempt(activity=activity, member=first, item_id=item.pk)
    with pytest.raises(rush.SoldOut):
        rush.attempt(activity=activity, member=second, item_id=item.pk)
    with mock.patch("django.db.transaction.on_commit", lambda f: f()):
        grant = rush.cancel(activity=activity, member=first)
    assert grant.status == GrantStatus.CANCELLED and grant.cancelled_at is not None
    assert RushItem.objects.get(pk=item.pk).remaining == 1
    assert not waiting_room.sold_out(activity.pk)  # the flag went with the returned unit
    with pytest.raises(Conflict) as twice:
        rush.cancel(activity=activity, member=first)
    assert twice.value.code == "RUSH_NOT_CANCELLABLE"
    assert RushItem.objects.get(pk=item.pk).remaining == 1
    with pytest.raises(eligibility.NotEligible):
        rush.attempt(activity=activity, member=first, item_id=item.pk)
    assert rush.attempt(activity=activity, member=second, item_id=item.pk).grant is not None
    assert RushItem.objects.get(pk=item.pk).remaining == 0


def test_cancelling_needs_a_deadline_in_the_future(make_rush: Any, members: Any) -> None:
    activity, [item] = make_rush((2,))
    [m] = members(1)
    rush.attempt(activity=activity, member=m, item_id=item.pk)
    with pytest.raises(Conflict) as closed:
        rush.cancel(activity=activity, member=m)
    assert closed.value.code == "RUSH_CANCEL_CLOSED"
    activity.settings = LATER
    with pytest.raises(Conflict):
        rush.cancel(activity=activity, member=m, now=timezone.now() + timedelta(days=2))
    assert RushItem.objects.get(pk=item.pk).remaining == 1


def test_a_cancel_deadline_before_the_opening_is_refused(make_rush: Any) -> None:
    activity, _items = make_rush((2,), opens_in=timedelta(days=1), publish=False)
    with pytest.raises(DomainError) as bad:
        actions.update_activity(
            actor=None,
            activity=activity,
            values={},
            settings={"cancel_deadline": timezone.now().isoformat()},
        )
    assert bad.value.code == "RUSH_CANCEL_DEADLINE"


def test_redeeming_by_code_or_signed_qr_once(make_rush: Any, members: Any, bob: Any) -> None:
    activity, [item] = make_rush((2,))
    first, second = members(2)
    g1 = rush.attempt(activity=activity, member=first, item_id=item.pk).grant
    g2 = rush.attempt(activity=activity, member=second, item_id=item.pk).grant
    assert g1 is not None and g2 is not None
    done = rush.redeem(actor=bob, activity=activity, scanned=g1.code.lower())
    assert done.status == GrantStatus.REDEEMED and done.redeemed_by == bob
    with pytest.raises(Conflict):
        rush.redeem(actor=bob, activity=activity, scanned=g1.code)
    assert rush.redeem(actor=bob, activity=activity, scanned=rush.qr_payload(g2)).pk == g2.pk
    # A QR made up without the secret key (here: signed under another salt) does not verify.
    forged = signing.dumps({"g": g2.pk, "c": g2.code}, salt="made-up", compress=False)
    with pytest.raises(DomainError) as bad:
        rush.redeem(actor=bob, activity=activity, scanned=forged)
    assert bad.value.code == "RUSH_CODE_INVALID"
    assert AuditEvent.objects.filter(action="activity_rush.redeem").count() == 2


def test_publishing_needs_stock_and_items_freeze_at_the_opening(make_rush: Any) -> None:
    activity, _ = make_rush((), publish=False)
    with pytest.raises(Conflict) as empty:
        actions.publish_activity(actor=None, activity=activity)
    assert empty.value.code == "RUSH_NO_ITEMS"
    opened, [item] = make_rush((5,))
    with pytest.raises(Conflict) as frozen:
        rush.update_item(actor=None, activity=opened, item=item, name="x", stock=50)
    assert frozen.value.code == "RUSH_ITEMS_FROZEN"
    assert AuditEvent.objects.filter(action="activity_rush.item_add").count() == 1


def test_when_the_cache_is_down_everyone_goes_straight_to_the_exact_grab(make_rush: Any, members: Any) -> None:
    activity, [item] = make_rush((2,), settings={"admit_rate": 1})
    broken = mock.patch.object(cache, "get", side_effect=ConnectionError("redis down"))
    with broken, mock.patch.object(cache, "get_many", side_effect=ConnectionError("redis down")):
        outcomes = [rush.attempt(activity=activity, member=m, item_id=item.pk) for m in members(2)]
        assert all(o.grant is not None for o in outcomes)
        [late] = members(1)
        with pytest.raises(rush.SoldOut):
            rush.attempt(activity=activity, member=late, item_id=item.pk)
    assert RushItem.objects.get(pk=item.pk).remaining == 0


def test_results_and_export_mask_names(make_rush: Any, members: Any) -> None:
    from gonghui.activities import registry

    activity, [item] = make_rush((3,))
    [m] = members(1)
    rush.attempt(activity=activity, member=m, item_id=item.pk)
    results = registry.get("rush").results(activity, for_organiser=True)
    assert results["taken"] == 1 and results["remaining"] == 2 and results["items"][0]["granted"] == 1
    headers, rows = registry.get("rush").export(activity)
    [row] = list(rows)
    assert headers[2] == "会员姓名" and row[2] == m.name[0] + "*" * (len(m.name) - 1)
