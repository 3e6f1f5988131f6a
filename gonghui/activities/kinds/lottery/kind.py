"""抽奖 (lottery): the kind's registration with the Activity component."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from gonghui.activities.registry import ActivityKind


class LotteryKind(ActivityKind):
    key = "lottery"
    label = _("抽奖")
    description = _("可验证抽奖：开奖前公布种子承诺，开奖后任何人可复算中奖名单。")
    once_per_member = True


KIND = LotteryKind()
