""" "Am I eligible?" — one answer, with the reason, used by every page, API and action.

The checks run in the order a member would want them explained: membership state, the
activity's window, the audience (subtree, list, industry, group, tags, verification,
retained members), then the kind's own rule (already voted, no attempts left…).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.utils import timezone

from gonghui.activities import registry
from gonghui.activities.models import Activity, ActivityState, AudienceMember
from gonghui.core.errors import DomainError
from gonghui.members.models import Member, MemberStatus, VerificationStatus
from gonghui.orgs.models import OrgTag

if TYPE_CHECKING:
    from collections.abc import Iterable


@dataclass(frozen=True)
class Eligibility:
    ok: bool
    code: str = ""
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok


ELIGIBLE = Eligibility(True)


class NotEligible(DomainError):
    code = "NOT_ELIGIBLE"
    status = 403


def _no(code: str, reason: str) -> Eligibility:
    return Eligibility(False, code, reason)


def in_audience(activity: Activity, member: Member) -> Eligibility:
    """The audience rules alone (no clock, no kind): who the activity is for."""
    if not member.org_path.startswith(activity.org_path):
        return _no("AUDIENCE_OUTSIDE", f"本活动面向{activity.org.name}及其下属工会的会员。")
    if member.status not in (MemberStatus.ACTIVE, MemberStatus.RETAINED):
        return _no("MEMBER_NOT_ACTIVE", "只有在册会员可以参加活动。")
    if activity.exclude_retained and member.status == MemberStatus.RETAINED:
        return _no("AUDIENCE_RETAINED", "保留会籍期间不参加本活动（按活动规则）。")
    if activity.verified_only and member.verification_status != VerificationStatus.VERIFIED:
        return _no("AUDIENCE_VERIFIED_ONLY", "本活动仅限已实名认证的会员参加，请先完成实名认证。")
    if activity.audience_groups and member.new_employment_group not in activity.audience_groups:
        return _no("AUDIENCE_GROUP", "本活动面向特定新就业形态群体。")
    if activity.audience_industries and member.org.industry not in activity.audience_industries:
        return _no("AUDIENCE_INDUSTRY", "本活动面向特定行业的工会会员。")
    if (
        activity.audience_tags
        and not OrgTag.objects.filter(org_id=member.org_id, name__in=activity.audience_tags).exists()
    ):
        return _no("AUDIENCE_TAG", "本活动面向特定类型工会的会员。")
    if activity.member_list_only and not AudienceMember.objects.filter(activity=activity, member=member).exists():
        return _no("AUDIENCE_LIST", "本活动仅限主办方指定名单内的会员参加。")
    return ELIGIBLE


def window(activity: Activity, now: datetime | None = None) -> Eligibility:
    state = activity.state_at(now or timezone.now())
    if state == ActivityState.OPEN:
        return ELIGIBLE
    if state == ActivityState.PUBLISHED:
        local = timezone.localtime(activity.starts_at)
        return _no("ACTIVITY_NOT_STARTED", f"活动尚未开始，开始时间 {local:%Y-%m-%d %H:%M}。")
    if state in (ActivityState.CLOSED, ActivityState.ARCHIVED):
        return _no("ACTIVITY_ENDED", "活动已结束。")
    return _no("ACTIVITY_NOT_PUBLISHED", "活动尚未发布。")


def check(activity: Activity, member: Member | None, *, now: datetime | None = None) -> Eligibility:
    """Everything a member must satisfy to act now, first failing reason first."""
    if member is None:
        return _no("NOT_A_MEMBER", "请先登录并完成入会，会员才能参加活动。")
    for answer in (window(activity, now), in_audience(activity, member)):
        if not answer:
            return answer
    kind_answer = registry.get(activity.kind).member_check(activity, member)
    return kind_answer if kind_answer is not None else ELIGIBLE


def require(activity: Activity, member: Member | None, *, now: datetime | None = None) -> Member:
    """``check`` for actions: raise ``NotEligible`` with the code and reason."""
    answer = check(activity, member, now=now)
    if not answer:
        raise NotEligible(answer.code, answer.reason)
    assert member is not None  # noqa: S101
    return member


def audience_filter(activities: Iterable[Activity], member: Member) -> list[Activity]:
    return [a for a in activities if in_audience(a, member)]
