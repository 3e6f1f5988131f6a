"""答题 (quiz): the kind's registration with the Activity component."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from gonghui.activities.registry import ActivityKind


class QuizKind(ActivityKind):
    key = "quiz"
    label = _("答题")
    description = _("知识答题：题库随机抽题、限时、限次、及格线与排行榜。")
    once_per_member = False


KIND = QuizKind()
