"""Reading a person's inbox: the messages of their member record and of their account.

An applicant's messages are addressed to the user account (there is no member record
yet); after approval new messages go to the member record. Both show in one list.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from gonghui.inbox.models import Message
from gonghui.members.models import Member


def _mine(user: Any, member: Member | None) -> Q:
    condition = Q(user_id=user.pk) if getattr(user, "pk", None) else Q(pk__in=[])
    if member is not None:
        condition |= Q(member_id=member.pk)
    return condition


def inbox_for(user: Any, member: Member | None) -> QuerySet[Message]:
    """Newest first; each row's broadcast and sender loaded with it (no N+1)."""
    return (
        Message.objects.filter(_mine(user, member)).select_related("broadcast", "sender").order_by("-created_at", "-id")
    )


def unread(user: Any, member: Member | None) -> QuerySet[Message]:
    """Unread messages: the two partial indexes ``… WHERE read_at IS NULL`` answer it."""
    return Message.objects.filter(_mine(user, member), read_at__isnull=True)


def unread_count(user: Any, member: Member | None) -> int:
    if not getattr(user, "is_authenticated", False):
        return 0
    return unread(user, member).count()
