"""Setting up sign-ups in tests, through the same actions organisers use."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from gonghui.activities import actions as activity_actions
from gonghui.activities.models import Activity
from gonghui.core.models import User
from gonghui.members.models import Member
from gonghui.orgs.models import Org


def open_signup(org: Org, actor: Any = None, *, publish: bool = True, **settings: Any) -> Activity:
    """A sign-up of ``org`` open now (started an hour ago, ends in two days)."""
    now = timezone.now()
    values = {
        "title": "周末徒步报名",
        "summary": "白云山徒步，名额有限",
        "starts_at": now - timedelta(hours=1),
        "ends_at": now + timedelta(days=2),
    }
    activity = activity_actions.create_activity(
        actor=actor, org=org, kind="signup", values=values, settings={"capacity": 3, **settings}
    )
    if publish:
        activity = activity_actions.publish_activity(actor=actor, activity=activity)
    return activity


def with_account(member: Member, username: str) -> Member:
    """Give ``member`` a portal login (as claiming an account does)."""
    user = User.objects.create_user(username, password="correct-horse-battery", name=member.name, mobile=username)
    member.user = user
    member.save(update_fields=["user"])
    return member
