"""问卷 (survey): the kind's registration with the Activity component."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from gonghui.activities.registry import ActivityKind


class SurveyKind(ActivityKind):
    key = "survey"
    label = _("问卷")
    description = _("问卷调查：多种题型、跳题、匿名选项与图表统计。")
    once_per_member = True


KIND = SurveyKind()
