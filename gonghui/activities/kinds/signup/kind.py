"""报名 (signup): the kind's registration with the Activity component."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gonghui.activities.eligibility import Eligibility
from gonghui.activities.kinds.signup.actions import ensure_seats
from gonghui.activities.kinds.signup.config import SignUpRules, SignUpSettingsForm
from gonghui.activities.kinds.signup.models import LIVE_STATUSES, Registration, RegistrationStatus, Seats
from gonghui.activities.registry import ActivityKind
from gonghui.core import pii
from gonghui.core.errors import InvalidValue

if TYPE_CHECKING:
    from gonghui.activities.models import Activity
    from gonghui.members.models import Member


def counts(activity: Activity) -> dict[str, int]:
    """Registrations by state, and check-ins, in one query."""
    s = RegistrationStatus
    row = Registration.objects.filter(activity=activity).aggregate(
        confirmed=Count("pk", filter=Q(status=s.CONFIRMED)),
        offered=Count("pk", filter=Q(status=s.OFFERED)),
        waitlisted=Count("pk", filter=Q(status=s.WAITLISTED)),
        cancelled=Count("pk", filter=Q(status__in=[s.CANCELLED, s.DECLINED, s.EXPIRED])),
        checked_in=Count("pk", filter=Q(checked_in_at__isnull=False, status=s.CONFIRMED)),
    )
    return {k: int(v or 0) for k, v in row.items()}


class SignUpKind(ActivityKind):
    key = "signup"
    label = _("报名")
    description = _("活动报名：名额、候补自动递补、取消截止与现场扫码签到。")
    once_per_member = True
    settings_form = SignUpSettingsForm

    def clean_settings(self, data: dict[str, Any], *, instance: Activity | None = None) -> dict[str, Any]:
        clean = super().clean_settings(data, instance=instance)
        if instance is not None and instance.pk:
            # Edited after publishing but before opening (settings freeze once open): the
            # seat counter follows, in the same transaction as the edit.
            rules = SignUpRules.of(type(instance)(settings=clean))
            Seats.objects.filter(activity_id=instance.pk, taken=0, waiting=0).update(
                capacity=rules.capacity, waitlist_limit=rules.waitlist_limit
            )
        return clean

    def check_publish(self, activity: Activity) -> None:
        rules = SignUpRules.of(activity)
        if rules.capacity < 1:
            raise InvalidValue("SIGNUP_CAPACITY_REQUIRED", "请先在活动设置中填写报名名额。", field="capacity")
        if rules.event_starts_at is not None and rules.event_starts_at < activity.starts_at:
            raise InvalidValue("SIGNUP_EVENT_BEFORE_START", "活动举办时间不能早于报名开始时间。")

    def on_publish(self, activity: Activity) -> None:
        ensure_seats(activity)

    def member_check(self, activity: Activity, member: Member) -> Eligibility | None:
        live = Registration.objects.filter(activity=activity, member=member, status__in=LIVE_STATUSES).first()
        if live is not None:
            return Eligibility(False, "SIGNUP_ALREADY", f"您已报名（{live.status_label}）。")
        seats = Seats.objects.filter(activity_id=activity.pk).first()
        if seats is not None and seats.taken >= seats.capacity:
            if seats.waitlist_limit == 0:
                return Eligibility(False, "SIGNUP_FULL", "名额已满，本活动不设候补。")
            if seats.waitlist_limit is not None and seats.waiting >= seats.waitlist_limit:
                return Eligibility(False, "SIGNUP_FULL", "名额和候补名单都已满。")
        return None

    def results(self, activity: Activity, *, for_organiser: bool) -> dict[str, Any]:
        rules = SignUpRules.of(activity)
        c = counts(activity)
        taken = c["confirmed"] + c["offered"]
        data: dict[str, Any] = {
            "capacity": rules.capacity,
            "remaining": max(rules.capacity - taken, 0),
            "waitlisted": c["waitlisted"],
        }
        if for_organiser:
            data.update(c)
        return data

    def export(self, activity: Activity) -> tuple[list[str], Iterable[list[Any]]]:
        rules = SignUpRules.of(activity)
        headers = ["序号", "姓名", "手机号", "所属工会", "状态", "候补序号", "报名时间", "签到时间"]
        headers += [f.label for f in rules.fields]

        def rows() -> Iterable[list[Any]]:
            qs = (
                Registration.objects.filter(activity=activity)
                .select_related("member", "member__org")
                .order_by("created_at", "pk")
            )
            for n, reg in enumerate(qs.iterator(chunk_size=2000), start=1):
                member = reg.member
                erased = member.erased_at is not None
                yield [
                    n,
                    "" if erased else pii.mask_name(member.name),
                    "" if erased else pii.mask_mobile(member.mobile or ""),
                    member.org.name,
                    reg.status_label,
                    reg.position or "",
                    f"{timezone.localtime(reg.created_at):%Y-%m-%d %H:%M}",
                    f"{timezone.localtime(reg.checked_in_at):%Y-%m-%d %H:%M}" if reg.checked_in_at else "",
                    *[reg.answers.get(f.key, "") for f in rules.fields],
                ]

        return headers, rows()


KIND = SignUpKind()
