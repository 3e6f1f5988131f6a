"""Writing to members' inboxes. Other domains call ``notify``; broadcasts live here too."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from gonghui.core import sms
from gonghui.inbox.models import Message, MessageKind
from gonghui.members.models import Member
from gonghui.orgs.models import Org


def notify(
    member: Member,
    kind: MessageKind | str,
    title: str,
    body: str = "",
    *,
    link: str = "",
    sender: Org | None = None,
    send_sms: bool = False,
) -> Message:
    """Put one message in ``member``'s inbox; with ``send_sms`` also text them after commit.

    SMS is for the important steps only (decisions on applications and transfers): the
    text is sent when the surrounding transaction commits, so a rolled-back decision
    never reaches the member's phone.
    """
    message = Message.objects.create(member=member, kind=kind, title=title, body=body, link=link, sender=sender)
    if send_sms and member.mobile and not member.erased_at:
        mobile, text = member.mobile, f"【工会】{title}"
        transaction.on_commit(lambda: sms.send_sms(mobile, text, purpose=f"notify.{kind}"))
    return message


def notify_user(
    user: Any, kind: MessageKind | str, title: str, body: str = "", *, link: str = "", send_sms: bool = False
) -> Message:
    """A message to an account that has no member record yet (an applicant)."""
    message = Message.objects.create(user=user, kind=kind, title=title, body=body, link=link)
    mobile = getattr(user, "mobile", "")
    if send_sms and mobile:
        text = f"【工会】{title}"
        transaction.on_commit(lambda: sms.send_sms(mobile, text, purpose=f"notify.{kind}"))
    return message
