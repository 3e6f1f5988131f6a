"""An activity's life: draft → published (未开始) → open → closed → archived; what freezes
once it opens; the kind's close hook runs exactly once; the participation event fires once,
after commit."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from gonghui.activities import actions, signals
from gonghui.activities.models import Activity, ActivityState, ActivityStatus, Participation
from gonghui.activities.tests.conftest import PlainKind, make_activity
from gonghui.conftest import Tree, make_member
from gonghui.core.audit import AuditEvent
from gonghui.core.errors import Conflict, DomainError

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _plain(plain_kind: PlainKind) -> PlainKind:
    return plain_kind


def test_states_follow_the_status_and_the_clock(tree: Tree, plain_kind: PlainKind) -> None:
    now = timezone.now()
    activity = make_activity(tree.tianhe, starts_at=now + timedelta(hours=1), ends_at=now + timedelta(hours=3))
    assert activity.state == ActivityState.DRAFT
    activity = actions.publish_activity(actor=None, activity=activity)
    assert plain_kind.calls[f"publish:{activity.pk}"] == 1
    assert activity.state == ActivityState.PUBLISHED and activity.state_label == "未开始"
    assert activity.state_at(now + timedelta(hours=2)) == ActivityState.OPEN
    assert activity.state_at(now + timedelta(hours=3)) == ActivityState.CLOSED

    assert actions.close_due_activities(now + timedelta(hours=2)) == []  # still open then
    assert actions.close_due_activities(now + timedelta(hours=4)) == [activity.pk]
    activity.refresh_from_db()
    assert activity.status == ActivityStatus.CLOSED and activity.finalised_at is not None
    activity = actions.archive_activity(actor=None, activity=activity)
    assert activity.state == ActivityState.ARCHIVED
    assert set(AuditEvent.objects.filter(object_id=str(activity.pk)).values_list("action", flat=True)) >= {
        "activity.create",
        "activity.publish",
        "activity.finalise",
        "activity.archive",
    }


def test_publish_checks_the_kind_and_the_window(tree: Tree) -> None:
    not_ready = make_activity(tree.tianhe, settings={"ready": False})
    with pytest.raises(DomainError) as caught:
        actions.publish_activity(actor=None, activity=not_ready)
    assert caught.value.code == "PLAIN_NOT_READY"
    assert Activity.objects.get(pk=not_ready.pk).status == ActivityStatus.DRAFT

    now = timezone.now()
    past = make_activity(tree.tianhe, starts_at=now - timedelta(days=2), ends_at=now - timedelta(days=1))
    with pytest.raises(Conflict) as caught_past:
        actions.publish_activity(actor=None, activity=past)
    assert caught_past.value.code == "ACTIVITY_WINDOW_PAST"


def test_fields_freeze_once_open(tree: Tree) -> None:
    activity = make_activity(tree.tianhe, publish=True)
    for values in (
        {"starts_at": activity.starts_at - timedelta(hours=1)},
        {"verified_only": True},
        {"audience_groups": ["courier"]},
        {"audience_tags": ["园区"]},
        {"member_list_only": True},
    ):
        with pytest.raises(Conflict) as caught:
            actions.update_activity(actor=None, activity=activity, values=values)
        assert caught.value.code == "ACTIVITY_OPEN_FROZEN"
    with pytest.raises(Conflict):
        actions.update_activity(actor=None, activity=activity, values={}, settings={"seats": 99})
    with pytest.raises(Conflict):
        actions.set_audience_members(actor=None, activity=activity, members=[])
    # What may still change: the text and a later end.
    later = activity.ends_at + timedelta(days=1)
    updated = actions.update_activity(
        actor=None, activity=activity, values={"title": "新标题", "rules": "新规则", "ends_at": later}
    )
    assert updated.title == "新标题" and updated.ends_at == later


def test_a_not_yet_open_activity_can_still_change(tree: Tree) -> None:
    now = timezone.now()
    activity = make_activity(
        tree.tianhe, publish=True, starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=2)
    )
    updated = actions.update_activity(
        actor=None, activity=activity, values={"verified_only": True}, settings={"seats": 3}
    )
    assert updated.verified_only is True and updated.settings["seats"] == 3


def test_ended_activities_cannot_change(tree: Tree) -> None:
    activity = actions.close_activity(actor=None, activity=make_activity(tree.tianhe, publish=True), reason="测试")
    with pytest.raises(Conflict) as caught:
        actions.update_activity(actor=None, activity=activity, values={"title": "x"})
    assert caught.value.code == "ACTIVITY_ENDED"


def test_close_hooks_run_once(tree: Tree, plain_kind: PlainKind) -> None:
    now = timezone.now()
    due = make_activity(tree.tianhe, publish=True, starts_at=now - timedelta(hours=2), ends_at=now + timedelta(hours=1))
    Activity.objects.filter(pk=due.pk).update(ends_at=now - timedelta(minutes=1))  # its time is up
    call_command("close_due_activities")
    call_command("close_due_activities")
    assert plain_kind.calls[f"close:{due.pk}"] == 1
    assert AuditEvent.objects.filter(action="activity.finalise", object_id=str(due.pk)).count() == 1

    closed_early = actions.close_activity(actor=None, activity=make_activity(tree.tianhe, publish=True), reason="x")
    call_command("close_due_activities")
    assert actions.finalise_activity(closed_early) is False
    actions.archive_activity(actor=None, activity=closed_early)
    assert plain_kind.calls[f"close:{closed_early.pk}"] == 1
    assert closed_early.ends_at <= timezone.now()


def test_close_of_a_not_yet_open_activity_keeps_the_window_valid(tree: Tree) -> None:
    now = timezone.now()
    activity = make_activity(
        tree.tianhe, publish=True, starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=2)
    )
    closed = actions.close_activity(actor=None, activity=activity, reason="取消")
    assert closed.ends_at > closed.starts_at
    assert closed.state == ActivityState.CLOSED


def test_archive_needs_a_closed_activity(tree: Tree) -> None:
    with pytest.raises(Conflict) as caught:
        actions.archive_activity(actor=None, activity=make_activity(tree.tianhe, publish=True))
    assert caught.value.code == "ACTIVITY_NOT_CLOSED"
    assert actions.archive_activity(actor=None, activity=make_activity(tree.tianhe)).status == ActivityStatus.ARCHIVED


def test_participation_event_fires_once_inside_the_transaction(tree: Tree) -> None:
    activity = make_activity(tree.tianhe, publish=True)
    member = make_member(tree.tianhe_union)
    received: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        assert transaction.get_connection().in_atomic_block  # the outbox: inside the kind's transaction
        received.append(kwargs)

    signals.participated.connect(receiver)
    try:
        with transaction.atomic():
            assert actions.record_participation(activity, member) is True
            assert actions.record_participation(activity, member) is False
        assert received == [
            {
                "signal": signals.participated,
                "activity_id": activity.pk,
                "member_id": member.pk,
                "kind": "plain",
                "org_id": tree.tianhe.pk,
            }
        ]
        assert actions.record_participation(activity, member) is False
        assert len(received) == 1
        assert Participation.objects.get().org_path == member.org_path
    finally:
        signals.participated.disconnect(receiver)


def test_what_a_receiver_writes_rolls_back_with_the_participation(tree: Tree) -> None:
    """A receiver enqueues work by writing rows (the database task backend): a kind whose
    own write fails after the participation leaves neither the participation nor that work."""
    activity = make_activity(tree.tianhe, publish=True)
    member = make_member(tree.tianhe_union)

    def receiver(sender: Any, *, activity_id: int, member_id: int, **kwargs: Any) -> None:
        AuditEvent.objects.create(action="test.participated", object_type="activity", object_id=str(activity_id))

    signals.participated.connect(receiver)
    try:
        with pytest.raises(RuntimeError), transaction.atomic():
            actions.record_participation(activity, member)
            assert AuditEvent.objects.filter(action="test.participated").count() == 1
            raise RuntimeError("the kind's own write failed")
        assert not Participation.objects.exists()
        assert not AuditEvent.objects.filter(action="test.participated").exists()
    finally:
        signals.participated.disconnect(receiver)
