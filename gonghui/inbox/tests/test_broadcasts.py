"""Broadcasts: who receives them, who may send them, and that a copy is never doubled."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import call_command
from django.db.models import Count
from django.http import Http404
from django.utils import timezone

from gonghui.conftest import Tree, make_member
from gonghui.core.errors import InvalidValue
from gonghui.core.models import AuditEvent, SmsMessage, User
from gonghui.inbox import actions, delivery
from gonghui.inbox.models import Broadcast, BroadcastStatus, Message, SmsState
from gonghui.members.models import Member
from gonghui.orgs.models import Notice

Send = Callable[..., Broadcast]


def recipients_of(broadcast: Broadcast) -> set[str]:
    return set(Message.objects.filter(broadcast=broadcast).values_list("member__name", flat=True))


def test_subtree_broadcast_reaches_current_members_only(
    tree: Tree, bob: User, tianhe_people: list[Member], send: Send
) -> None:
    make_member(tree.nanshan_union, "李南山")
    broadcast = send(bob, tree.tianhe, "端午慰问", "请各会员领取慰问品。", {})
    assert broadcast.status == BroadcastStatus.DONE
    assert recipients_of(broadcast) == {"王一", "王二", "王三", "王四"}  # not left, not erased, not Nanshan
    assert (broadcast.total, broadcast.sent, broadcast.percent) == (4, 4, 100)
    assert broadcast.cursor == max(m.pk for m in tianhe_people)
    copy = Message.objects.filter(broadcast=broadcast).first()
    assert copy is not None and copy.body == "" and copy.text == "请各会员领取慰问品。"
    assert copy.sender_id == tree.tianhe.pk and copy.kind == "notice"
    assert AuditEvent.objects.filter(action="broadcast.send", object_id=str(broadcast.pk)).count() == 1
    assert AuditEvent.objects.filter(action="broadcast.done", object_id=str(broadcast.pk)).count() == 1


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"employment_status": ["retired"]}, {"王二"}),
        ({"new_employment_group": ["courier"]}, {"王三"}),
        ({"org_id": "street"}, {"王一", "王二", "王三"}),
        ({"org_id": "union", "employment_status": ["employed"]}, {"王一"}),
        ({"status": ["active"]}, {"王一", "王二", "王三", "王四"}),
    ],
)
def test_filters_narrow_the_audience(
    tree: Tree, bob: User, tianhe_people: list[Member], send: Send, filters: dict[str, Any], expected: set[str]
) -> None:
    if filters.get("org_id") == "street":
        filters["org_id"] = tree.tianhe_street.pk
    elif filters.get("org_id") == "union":
        filters["org_id"] = tree.tianhe_union.pk
    assert actions.count_recipients(tree.tianhe, filters) == len(expected)
    broadcast = send(bob, tree.tianhe, "通知", "正文", filters)
    assert recipients_of(broadcast) == expected
    assert broadcast.total == len(expected)


def test_retained_members_only(tree: Tree, bob: User, tianhe_people: list[Member], send: Send) -> None:
    Member.objects.filter(pk=tianhe_people[1].pk).update(status="retained")
    broadcast = send(bob, tree.tianhe, "退休会员座谈会", "正文", {"status": ["retained"]})
    assert recipients_of(broadcast) == {"王二"}


def test_another_districts_union_is_404(tree: Tree, bob: User, tianhe_people: list[Member]) -> None:
    with pytest.raises(Http404):
        actions.send_broadcast(bob, tree.nanshan, "越权", "正文", {})
    with pytest.raises(Http404):  # the parent of his district is outside his subtree too
        actions.send_broadcast(bob, tree.guangzhou, "越权", "正文", {})
    assert not Broadcast.objects.exists()


def test_auditor_may_not_send(tree: Tree, erin: User, tianhe_people: list[Member]) -> None:
    with pytest.raises(Http404):
        actions.send_broadcast(erin, tree.tianhe, "审计员", "正文", {})


def test_sub_union_must_lie_inside_the_senders_subtree(tree: Tree, bob: User, tianhe_people: list[Member]) -> None:
    with pytest.raises(InvalidValue) as exc:
        actions.send_broadcast(bob, tree.tianhe, "通知", "正文", {"org_id": tree.nanshan_union.pk})
    assert exc.value.code == "BROADCAST_ORG_OUTSIDE"


@pytest.mark.parametrize(
    ("filters", "code"),
    [
        ({"status": ["left"]}, "BROADCAST_BAD_FILTER"),
        ({"employment_status": "astronaut"}, "BROADCAST_BAD_FILTER"),
        ({"favourite_colour": ["red"]}, "BROADCAST_BAD_FILTER"),
        ({"new_employment_group": ["security"]}, "BROADCAST_NO_RECIPIENTS"),
    ],
)
def test_bad_filters_are_refused_with_a_code(
    tree: Tree, bob: User, tianhe_people: list[Member], filters: dict[str, Any], code: str
) -> None:
    with pytest.raises(InvalidValue) as exc:
        actions.send_broadcast(bob, tree.tianhe, "通知", "正文", filters)
    assert exc.value.code == code


def test_title_and_body_are_required(tree: Tree, bob: User, tianhe_people: list[Member]) -> None:
    with pytest.raises(InvalidValue) as exc:
        actions.send_broadcast(bob, tree.tianhe, "  ", "正文", {})
    assert exc.value.code == "BROADCAST_TEXT_REQUIRED"


def test_delivery_runs_after_commit_only(tree: Tree, bob: User, tianhe_people: list[Member]) -> None:
    broadcast = actions.send_broadcast(bob, tree.tianhe, "通知", "正文", {})  # the test's transaction never commits
    assert broadcast.status == BroadcastStatus.QUEUED
    assert not Message.objects.exists()


def test_small_batches_walk_the_cursor(tree: Tree, bob: User, tianhe_people: list[Member], settings: Any) -> None:
    settings.BROADCAST_BATCH_SIZE = 3
    broadcast = actions.send_broadcast(bob, tree.tianhe, "通知", "正文", {})
    assert delivery.start(broadcast.pk)
    assert delivery.deliver_batch(broadcast.pk, 3)
    broadcast.refresh_from_db()
    assert broadcast.sent == 3 and broadcast.status == BroadcastStatus.RUNNING
    assert broadcast.cursor == sorted(m.pk for m in tianhe_people)[2]
    delivery.deliver(broadcast.pk)
    broadcast.refresh_from_db()
    assert broadcast.status == BroadcastStatus.DONE and broadcast.sent == 4


def test_a_rewound_cursor_never_doubles_a_copy(tree: Tree, bob: User, tianhe_people: list[Member], send: Send) -> None:
    """The database's own guard: run a finished broadcast again from the start (as after a
    restore from backup, or a cursor write lost) — every member still has one copy, and
    ``sent`` is not inflated. Fails without the unique constraint (duplicates) or without
    ``ignore_conflicts`` (IntegrityError)."""
    broadcast = send(bob, tree.tianhe, "通知", "正文", {})
    Broadcast.objects.filter(pk=broadcast.pk).update(status=BroadcastStatus.RUNNING, cursor=0)
    delivery.deliver(broadcast.pk, size=2)
    broadcast.refresh_from_db()
    per_member = Message.objects.filter(broadcast=broadcast).values("member").annotate(n=Count("id"))
    assert sorted(row["n"] for row in per_member) == [1, 1, 1, 1]
    assert broadcast.sent == 4 and broadcast.status == BroadcastStatus.DONE


def test_sms_goes_once_to_members_with_a_mobile(tree: Tree, bob: User, tianhe_people: list[Member], send: Send) -> None:
    broadcast = send(bob, tree.tianhe, "停水通知", "正文", {}, send_sms=True)
    texts = SmsMessage.objects.filter(purpose="broadcast")
    assert sorted(texts.values_list("mobile", flat=True)) == ["13600000001", "13600000002", "13600000004"]
    assert (broadcast.sms_sent, broadcast.sms_failed) == (3, 0)
    states = dict(Message.objects.filter(broadcast=broadcast).values_list("member__name", "sms_state"))
    assert states == {"王一": "sent", "王二": "sent", "王三": "", "王四": "sent"}
    # A second pass (a resumed worker) finds nothing pending and sends nothing.
    assert delivery.send_pending_sms(broadcast.pk) == (0, 0)
    assert texts.count() == 3


def test_sms_claimed_by_a_dead_worker_is_not_sent_again(
    tree: Tree, bob: User, tianhe_people: list[Member], settings: Any
) -> None:
    broadcast = actions.send_broadcast(bob, tree.tianhe, "停水通知", "正文", {}, send_sms=True)
    delivery.start(broadcast.pk)
    delivery.deliver_batch(broadcast.pk, 10)
    # The worker claimed one text and died before the gateway answered.
    first = Message.objects.filter(broadcast=broadcast, sms_state=SmsState.PENDING).order_by("member_id").first()
    assert first is not None
    Message.objects.filter(pk=first.pk).update(sms_state=SmsState.SENDING)
    delivery.deliver(broadcast.pk)
    assert SmsMessage.objects.filter(purpose="broadcast").count() == 2
    first.refresh_from_db()
    assert first.sms_state == SmsState.SENDING  # unknown, never repeated


def test_worker_killed_mid_way_resumes_from_the_cursor(
    tree: Tree,
    bob: User,
    tianhe_people: list[Member],
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    broadcast = actions.send_broadcast(bob, tree.tianhe, "通知", "正文", {})
    real_insert = delivery.insert_copies
    calls = {"n": 0}

    def dying_insert(*args: Any) -> int:
        calls["n"] += 1
        inserted = real_insert(*args)
        if calls["n"] == 2:
            raise KeyboardInterrupt  # killed after inserting, before the batch commits
        return inserted

    monkeypatch.setattr(delivery, "insert_copies", dying_insert)
    with pytest.raises(KeyboardInterrupt):
        delivery.deliver(broadcast.pk, size=1)
    broadcast.refresh_from_db()
    assert broadcast.status == BroadcastStatus.RUNNING and broadcast.sent == 1
    assert Message.objects.filter(broadcast=broadcast).count() == 1  # the second batch rolled back

    monkeypatch.setattr(delivery, "insert_copies", real_insert)
    # Not stale yet: the worker might be alive.
    assert actions.resume_stale_broadcasts() == []
    Broadcast.objects.filter(pk=broadcast.pk).update(heartbeat_at=timezone.now() - actions.stale_after() * 2)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("resume_broadcasts")
    broadcast.refresh_from_db()
    assert broadcast.status == BroadcastStatus.DONE and broadcast.sent == 4
    assert Message.objects.filter(broadcast=broadcast).values("member").distinct().count() == 4
    assert Message.objects.filter(broadcast=broadcast).count() == 4
    assert AuditEvent.objects.filter(action="broadcast.resume", object_id=str(broadcast.pk)).count() == 1


def test_publish_notice_can_push_to_the_message_centre(
    tree: Tree, bob: User, tianhe_people: list[Member], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        notice, broadcast = actions.publish_notice(
            actor=bob, org=tree.tianhe, title="高温慰问", body="送清凉", push=True, publish=True
        )
    assert notice is not None and broadcast is not None
    assert broadcast.notice_id == notice.pk
    assert Message.objects.filter(broadcast=broadcast).count() == 4
    only_notice, none = actions.publish_notice(actor=bob, org=tree.tianhe, title="只发公告", body="正文", push=False)
    assert only_notice is not None and none is None
    with pytest.raises(InvalidValue) as exc:
        actions.publish_notice(actor=bob, org=tree.tianhe, title="t", body="b", push=False, publish=False)
    assert exc.value.code == "NOTICE_NO_CHANNEL"
    assert Notice.objects.count() == 2
