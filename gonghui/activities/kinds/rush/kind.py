"""抢票 (rush): the kind's registration with the Activity component."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from gonghui.activities.registry import ActivityKind


class RushKind(ActivityKind):
    key = "rush"
    label = _("抢票")
    description = _("抢票/抢券：定时开抢、每人一张、先到先得、排队等候。")
    once_per_member = True


KIND = RushKind()
