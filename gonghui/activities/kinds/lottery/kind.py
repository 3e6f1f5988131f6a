"""抽奖 (lottery): the kind's registration with the Activity component."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django import forms
from django.utils.translation import gettext_lazy as _

from gonghui.activities.eligibility import Eligibility
from gonghui.activities.registry import ActivityKind

if TYPE_CHECKING:
    from gonghui.activities.models import Activity
    from gonghui.members.models import Member

DEFAULT_CLAIM_DAYS = 7
MAX_POINTS_COST = 100_000


class LotterySettingsForm(forms.Form):
    claim_days = forms.IntegerField(
        label=_("领奖期限（天）"),
        required=False,
        min_value=1,
        max_value=90,
        initial=DEFAULT_CLAIM_DAYS,
        help_text=_("开奖后中奖会员须在此期限内确认领奖，逾期未确认的奖品重新抽取。"),
    )
    manual_draw = forms.BooleanField(
        label=_("手动开奖"),
        required=False,
        help_text=_("勾选后，活动结束时不自动开奖，由干部在控制台点击“开奖”。"),
    )
    keep_unclaimed = forms.BooleanField(
        label=_("逾期不重抽"),
        required=False,
        help_text=_("勾选后，逾期未领的奖品作废，不再从未中奖的参与者中重新抽取。"),
    )

    points_cost = forms.IntegerField(
        label=_("参与所需积分"),
        required=False,
        min_value=0,
        max_value=MAX_POINTS_COST,
        initial=0,
        help_text=_("每位会员参与时扣除的积分，0 表示免费参与。积分不足的会员不能参与；参与后不退还。"),
    )

    def clean_claim_days(self) -> int:
        value = self.cleaned_data.get("claim_days")
        return int(value) if value else DEFAULT_CLAIM_DAYS

    def clean_points_cost(self) -> int:
        return int(self.cleaned_data.get("points_cost") or 0)


def points_cost(activity: Activity) -> int:
    """Points one entry costs (``settings.points_cost``; lotteries made before it: 0)."""
    return int(activity.setting("points_cost") or 0)


class LotteryKind(ActivityKind):
    key = "lottery"
    label = _("抽奖")
    description = _("可验证抽奖：开奖前公布种子承诺，开奖后任何人可复算中奖名单。")
    settings_form = LotterySettingsForm
    once_per_member = True

    def check_publish(self, activity: Activity) -> None:
        from gonghui.activities.kinds.lottery import actions

        actions.check_publish(activity)

    def on_publish(self, activity: Activity) -> None:
        from gonghui.activities.kinds.lottery import actions

        actions.commit_seed(activity)

    def on_close(self, activity: Activity) -> None:
        from gonghui.activities.kinds.lottery import actions

        if not activity.setting("manual_draw"):
            actions.draw_locked(activity, actor=None)

    def member_check(self, activity: Activity, member: Member) -> Eligibility | None:
        from gonghui.activities.kinds.lottery.models import Entry

        if Entry.objects.filter(activity=activity, member=member).exists():
            return Eligibility(False, "LOTTERY_ENTERED", "您已参与本次抽奖。")
        return None

    def results(self, activity: Activity, *, for_organiser: bool) -> dict[str, Any]:
        from gonghui.activities.kinds.lottery import selectors

        return selectors.results(activity, for_organiser=for_organiser)

    def export(self, activity: Activity) -> tuple[list[str], Iterable[list[Any]]]:
        from gonghui.activities.kinds.lottery import selectors

        return selectors.winners_export(activity)


KIND = LotteryKind()
