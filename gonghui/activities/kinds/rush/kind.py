"""抢票 (rush): the kind's registration with the Activity component.

Settings (``Activity.settings``): ``cancel_deadline`` (members may give a ticket back
until then; empty: no cancellation) and ``admit_rate`` (the waiting room's admissions
per second for this rush; empty: ``RUSH_ADMIT_RATE``). The ticket types and their stock
are ``RushItem`` rows, edited on the kind's own console page; a ticket type may be a coupon
template (抢券: the grab puts the coupon in the member's wallet). Opening time is the
activity's ``starts_at``.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import TYPE_CHECKING, Any

from django import forms
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

from gonghui.activities.eligibility import Eligibility
from gonghui.activities.registry import ActivityKind
from gonghui.core.errors import Conflict, InvalidValue
from gonghui.core.pii import mask_name
from gonghui.core.rowreader import RowReader

if TYPE_CHECKING:
    from gonghui.activities.models import Activity
    from gonghui.members.models import Member


class RushSettingsForm(forms.Form):
    cancel_deadline = forms.DateTimeField(
        label=_("取消截止时间"),
        required=False,
        help_text=_("截止前会员可以退票，名额回到库存；留空表示不可取消。取消后不能再抢。"),
    )
    admit_rate = forms.IntegerField(
        label=_("排队放行速度（人/秒）"),
        required=False,
        min_value=1,
        max_value=100_000,
        help_text=_("开抢时人多则排队，按此速度放行；留空使用系统默认值。"),
    )


@cache
def _grants() -> RowReader[Any]:
    """The member's grant in a rush: read on every grab, SQL written once (models load
    after this module, hence the first call builds it)."""
    from gonghui.activities.kinds.rush.models import Grant

    return RowReader(Grant, ("activity", "member"))


class RushKind(ActivityKind):
    key = "rush"
    label = _("抢票")
    description = _("抢票/抢券：定时开抢、每人一张、先到先得、排队等候。")
    settings_form = RushSettingsForm
    once_per_member = True

    def clean_settings(self, data: dict[str, Any], *, instance: Activity | None = None) -> dict[str, Any]:
        clean = super().clean_settings(data, instance=instance)
        if clean.get("cancel_deadline") and instance is not None:
            deadline = parse_datetime(str(clean["cancel_deadline"]))
            if deadline is not None and timezone.is_aware(deadline) and deadline <= instance.starts_at:
                raise InvalidValue("RUSH_CANCEL_DEADLINE", "取消截止时间必须晚于开抢时间。", field="cancel_deadline")
        return clean

    def check_publish(self, activity: Activity) -> None:
        from gonghui.activities.kinds.rush.models import RushItem

        if not RushItem.objects.filter(activity=activity, stock__gt=0).exists():
            raise Conflict("RUSH_NO_ITEMS", "请先添加至少一个票种并设置投放数量。")

    def member_check(self, activity: Activity, member: Member) -> Eligibility | None:
        if _grants().get(activity.pk, member.pk) is not None:
            return Eligibility(False, "RUSH_ALREADY", "您已参与过本次抢票（每人限抢一张）。")
        return None

    def results(self, activity: Activity, *, for_organiser: bool) -> dict[str, Any]:
        from gonghui.activities.kinds.rush.models import GrantStatus, RushItem

        items = list(
            RushItem.objects.filter(activity=activity).annotate(
                n_granted=Count("grants", filter=Q(grants__status=GrantStatus.GRANTED)),
                n_redeemed=Count("grants", filter=Q(grants__status=GrantStatus.REDEEMED)),
                n_cancelled=Count("grants", filter=Q(grants__status=GrantStatus.CANCELLED)),
            )
        )
        rows = [
            {
                "id": item.pk,
                "name": item.name,
                "detail": item.detail,
                "stock": item.stock,
                "remaining": item.remaining,
                "taken": item.stock - item.remaining,
                "coupon_template_id": item.coupon_template_id,
                **(
                    {"granted": item.n_granted, "redeemed": item.n_redeemed, "cancelled": item.n_cancelled}  # type: ignore[attr-defined]
                    if for_organiser
                    else {}
                ),
            }
            for item in items
        ]
        return {
            "items": rows,
            "stock": sum(r["stock"] for r in rows),
            "remaining": sum(r["remaining"] for r in rows),
            "taken": sum(r["taken"] for r in rows),
            "sold_out": bool(rows) and all(r["remaining"] == 0 for r in rows),
            "as_of": timezone.now().isoformat(),
        }

    def export(self, activity: Activity) -> tuple[list[str], Iterable[list[Any]]]:
        from gonghui.activities.kinds.rush.models import Grant, GrantStatus

        headers = ["票种", "兑换码", "会员姓名", "所属工会", "状态", "抢到时间", "取消时间", "核销时间"]
        grants = (
            Grant.objects.filter(activity=activity)
            .select_related("item", "member", "member__org")
            .order_by("created_at", "pk")
        )

        def local(value: Any) -> str:
            return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S") if value else ""

        rows = (
            [
                g.item.name,
                g.code,
                mask_name(g.member.name),
                g.member.org.name,
                str(GrantStatus(g.status).label),
                local(g.created_at),
                local(g.cancelled_at),
                local(g.redeemed_at),
            ]
            for g in grants.iterator(chunk_size=2000)
        )
        return headers, rows


KIND = RushKind()
