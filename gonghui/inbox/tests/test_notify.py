"""``notify`` and ``notify_user``: the one-message helpers other domains call."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, transaction

from gonghui.conftest import Tree, make_member
from gonghui.core.models import SmsMessage, User
from gonghui.inbox.actions import notify, notify_user
from gonghui.inbox.models import Message, MessageKind
from gonghui.inbox.selectors import inbox_for, unread_count
from gonghui.members.models import Member


def test_notify_puts_one_message_in_the_members_inbox(frank: Member, tree: Tree) -> None:
    message = notify(frank, MessageKind.MEMBERSHIP, "会籍已恢复", "欢迎回来。", sender=tree.tianhe_union, link="/me/")
    assert list(inbox_for(frank.user, frank)) == [message]
    assert (message.member_id, message.user_id, message.sender_id) == (frank.pk, None, tree.tianhe_union.pk)
    assert message.text == "欢迎回来。" and message.read_at is None
    assert unread_count(frank.user, frank) == 1


def test_notify_texts_only_after_commit(frank: Member, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        notify(frank, MessageKind.APPLICATION, "入会申请已通过", send_sms=True)
    assert not SmsMessage.objects.exists()  # nothing before commit
    for callback in callbacks:
        callback()
    sms = SmsMessage.objects.get()
    assert sms.mobile == "13900000006" and "入会申请已通过" in sms.text and sms.purpose == "notify.application"


def test_notify_without_mobile_sends_no_sms(tree: Tree, django_capture_on_commit_callbacks: Any) -> None:
    member = make_member(tree.tianhe_union, "无手机")
    with django_capture_on_commit_callbacks(execute=True):
        notify(member, MessageKind.MEMBERSHIP, "通知", send_sms=True)
    assert not SmsMessage.objects.exists()
    assert Message.objects.filter(member=member).count() == 1


def test_notify_user_reaches_an_applicant_without_a_member_record(
    db: Any, django_capture_on_commit_callbacks: Any
) -> None:
    applicant = User.objects.create_user("13700000009", name="申请人", mobile="13700000009")
    with django_capture_on_commit_callbacks(execute=True):
        message = notify_user(applicant, MessageKind.APPLICATION, "申请已提交", send_sms=True)
    assert list(inbox_for(applicant, None)) == [message]
    assert message.member_id is None and message.user_id == applicant.pk
    assert SmsMessage.objects.get().mobile == "13700000009"


def test_inbox_shows_account_and_member_messages_together(frank: Member) -> None:
    before = notify_user(frank.user, MessageKind.APPLICATION, "申请已提交")
    after = notify(frank, MessageKind.APPLICATION, "申请已通过")
    assert list(inbox_for(frank.user, frank)) == [after, before]
    assert unread_count(frank.user, frank) == 2


def test_a_message_has_exactly_one_recipient(frank: Member) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(member=frank, user=frank.user, kind=MessageKind.SYSTEM, title="两个收件人")
