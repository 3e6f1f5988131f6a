"""报名 (signup): the kind's registration with the Activity component."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from gonghui.activities.registry import ActivityKind


class SignUpKind(ActivityKind):
    key = "signup"
    label = _("报名")
    description = _("活动报名：名额、候补自动递补、取消截止与现场扫码签到。")
    once_per_member = True


KIND = SignUpKind()
