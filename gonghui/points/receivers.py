"""Points subscribes to other modules' events and pays for them in the background.

Paying is a task, so a vote or an approval never waits for the points ledger. The
``participated`` event arrives inside the activity's transaction, so its task row
commits with the participation (the database task backend is the outbox); the joining
and verification events arrive after their commit. The award's idempotency key makes a
repeated event or a retried task pay once.
"""

from __future__ import annotations

from typing import Any

from gonghui.activities.signals import participated, participated_many
from gonghui.members.signals import member_joined, member_verified
from gonghui.points.models import RuleKind
from gonghui.points.tasks import award_many_task, award_task


def on_participated(sender: Any, *, activity_id: int, member_id: int, **kwargs: Any) -> None:
    award_task.enqueue(member_id, RuleKind.ACTIVITY.value, str(activity_id))


def on_participated_many(sender: Any, *, activity_id: int, member_ids: list[int], **kwargs: Any) -> None:
    award_many_task.enqueue(member_ids, RuleKind.ACTIVITY.value, str(activity_id))


def on_joined(sender: Any, *, member_id: int, **kwargs: Any) -> None:
    award_task.enqueue(member_id, RuleKind.JOIN.value, "member")


def on_verified(sender: Any, *, member_id: int, **kwargs: Any) -> None:
    award_task.enqueue(member_id, RuleKind.VERIFY.value, "member")


def connect() -> None:
    participated.connect(on_participated, dispatch_uid="points.on_participated")
    participated_many.connect(on_participated_many, dispatch_uid="points.on_participated_many")
    member_joined.connect(on_joined, dispatch_uid="points.on_joined")
    member_verified.connect(on_verified, dispatch_uid="points.on_verified")
