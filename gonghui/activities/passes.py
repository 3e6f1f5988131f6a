"""Activity passes (活动通行证): the credential of the hot lane.

A campaign's hottest requests — a ballot in a 评选, a grab when a rush opens — come by
the hundred thousand, and on the session path each of them paid for the session (Redis),
the account, the second-factor and idle checks, the member row and the audience rules
again before doing its one write. A pass moves that work to once per visit: the member's
page asks for it (``issue``, through the session) when it opens, the full check runs
there, and every vote or grab of the visit sends the pass instead of the session cookie.

A pass is ``<activity>.<member>.<expires>.<org path>`` signed with the secret key
(HMAC-SHA256, ``django.core.signing.Signer`` with its own salt). It names one activity
and one member, so it opens nothing else; it expires after ``ACTIVITY_PASS_SECONDS`` and
never after the activity ends. It carries no personal data beyond ids and the union's
tree path (which the member's own page shows anyway).

What the lane trusts the pass for, and what it still checks itself: who the member is and
that they are in the audience (checked at issue; a member who leaves the audience keeps
at most one pass lifetime); the activity's window, state and the member's own limits (one
ballot, the day's allowance, one grant) are checked on every request, in the write's own
transaction — exactly as on the session path.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core import signing
from django.utils import timezone

from gonghui.activities import eligibility
from gonghui.activities.eligibility import NotEligible
from gonghui.activities.models import Activity, ActivityState
from gonghui.core.errors import DomainError
from gonghui.members.models import Member

SALT = "gonghui.activities.pass"
_signer = signing.Signer(salt=SALT)


class PassInvalid(DomainError):
    """The pass is missing, forged, expired, or for another activity: get a new one."""

    code = "PASS_INVALID"
    status = 401


@dataclass(frozen=True)
class Pass:
    activity_id: int
    member_id: int
    org_path: str
    expires_at: int  # Unix seconds

    @property
    def expires(self) -> datetime:
        return datetime.fromtimestamp(self.expires_at, tz=timezone.get_current_timezone())


def issue(activity: Activity, member: Member | None, *, now: datetime | None = None) -> tuple[str, Pass]:
    """A pass for ``member`` in ``activity`` — after the whole eligibility check.

    Asked for when the member's page opens, which for a rush is before the doors open: a
    published activity that has not started yet gets a pass too (the lane refuses to act
    before the start). ``NotEligible`` with the reason otherwise.
    """
    now = now or timezone.now()
    if activity.state_at(now) == ActivityState.PUBLISHED:
        # Not started yet: everything but the clock.
        if member is None:
            raise NotEligible("NOT_A_MEMBER", "请先登录并完成入会，会员才能参加活动。")
        answer = eligibility.in_audience(activity, member)
        if not answer:
            raise NotEligible(answer.code, answer.reason)
    else:
        member = eligibility.require(activity, member, now=now)
    expires_at = min(int(now.timestamp()) + settings.ACTIVITY_PASS_SECONDS, int(activity.ends_at.timestamp()))
    granted = Pass(activity.pk, member.pk, member.org_path, expires_at)
    value = f"{granted.activity_id}.{granted.member_id}.{granted.expires_at}.{granted.org_path}"
    return _signer.sign(value), granted


def verify(token: str, activity_id: int, *, now: float | None = None) -> Pass:
    """The pass ``token`` carries, if it is genuine, unexpired and for ``activity_id``."""
    try:
        value = _signer.unsign(token)
    except signing.BadSignature:
        raise PassInvalid(message="活动通行证无效，请刷新活动页面后重试。") from None
    try:
        activity, member, expires, org_path = value.split(".", 3)
        granted = Pass(int(activity), int(member), org_path, int(expires))
    except ValueError:  # signed by us, so only an old format could get here
        raise PassInvalid(message="活动通行证无效，请刷新活动页面后重试。") from None
    if granted.activity_id != activity_id:
        raise PassInvalid(message="活动通行证不属于本活动，请刷新活动页面后重试。")
    if granted.expires_at <= (time.time() if now is None else now):
        raise PassInvalid(message="活动通行证已过期，请刷新活动页面后重试。")
    return granted
