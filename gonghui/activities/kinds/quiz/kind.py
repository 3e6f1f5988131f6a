"""答题 (quiz): the kind's registration with the Activity component."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django import forms
from django.utils.translation import gettext_lazy as _

from gonghui.activities.registry import ActivityKind
from gonghui.core.errors import Conflict

if TYPE_CHECKING:
    from gonghui.activities.eligibility import Eligibility
    from gonghui.activities.models import Activity
    from gonghui.members.models import Member

TAG_SEPARATORS = ("，", "、", ";", "；", "\n")


def split_tags(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        parts = [str(v) for v in value]
    else:
        raw = str(value or "")
        for sep in TAG_SEPARATORS:
            raw = raw.replace(sep, ",")
        parts = raw.split(",")
    return sorted({p.strip()[:20] for p in parts if p.strip()})


class TagsField(forms.CharField):
    """Tags typed as "安全生产、劳动法", stored as a list."""

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        return split_tags(value)

    def prepare_value(self, value: Any) -> str:
        return "、".join(split_tags(value)) if value else ""

    def validate(self, value: Any) -> None:
        if len(value) > 10:
            raise forms.ValidationError(_("最多 10 个标签。"))


class QuizSettingsForm(forms.Form):
    question_count = forms.IntegerField(
        label=_("每次抽题数"), min_value=1, max_value=100, initial=10, help_text=_("每次答题从题库随机抽取的题数。")
    )
    tags = TagsField(
        label=_("只抽这些标签的题"),
        required=False,
        help_text=_("用顿号或逗号分隔；留空为整个题库。题目带任一标签即可被抽中。"),
    )
    time_limit_seconds = forms.IntegerField(
        label=_("限时（秒）"), min_value=0, max_value=7200, initial=300, help_text=_("0 为不限时（到活动结束为止）。")
    )
    max_attempts = forms.IntegerField(label=_("每人答题次数"), min_value=1, max_value=20, initial=3)
    pass_score = forms.IntegerField(
        label=_("及格分"), min_value=0, max_value=100, initial=60, help_text=_("满分 100 分。")
    )
    leaderboard = forms.BooleanField(label=_("显示排行榜"), required=False, initial=True)


class QuizRules:
    """The settings with their defaults, read once."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.question_count = int(settings.get("question_count") or 10)
        self.tags = split_tags(settings.get("tags") or [])
        self.time_limit_seconds = int(settings.get("time_limit_seconds") or 0)
        self.max_attempts = int(settings.get("max_attempts") or 1)
        pass_score = settings.get("pass_score")
        self.pass_score = int(pass_score) if pass_score is not None else 60
        self.leaderboard = bool(settings.get("leaderboard", True))

    @classmethod
    def of(cls, activity: Activity) -> QuizRules:
        return cls(activity.settings or {})


class QuizKind(ActivityKind):
    key = "quiz"
    label = _("答题")
    description = _("知识答题：题库随机抽题、限时、限次、及格线与排行榜。")
    settings_form = QuizSettingsForm
    # The participation row is written on the first attempt; the attempts repeat.
    once_per_member = False

    def check_publish(self, activity: Activity) -> None:
        from gonghui.activities.kinds.quiz.actions import pool_ids

        rules = QuizRules.of(activity)
        available = len(pool_ids(activity))
        if available < rules.question_count:
            raise Conflict(
                "QUIZ_BANK_TOO_SMALL",
                f"题库中符合条件的启用题目只有 {available} 道，少于每次抽题数 {rules.question_count}。",
            )

    def on_close(self, activity: Activity) -> None:
        from gonghui.activities.kinds.quiz.actions import close_overdue_attempts

        close_overdue_attempts(activity, force=True)

    def member_check(self, activity: Activity, member: Member) -> Eligibility | None:
        from gonghui.activities.eligibility import Eligibility
        from gonghui.activities.kinds.quiz.models import Attempt

        rules = QuizRules.of(activity)
        attempts = list(Attempt.objects.filter(activity=activity, member=member).values_list("submitted_at", flat=True))
        if len(attempts) >= rules.max_attempts and all(at is not None for at in attempts):
            return Eligibility(False, "QUIZ_NO_ATTEMPTS_LEFT", f"您的 {rules.max_attempts} 次答题机会已用完。")
        return None

    def results(self, activity: Activity, *, for_organiser: bool) -> dict[str, Any]:
        from gonghui.activities.kinds.quiz import selectors

        return selectors.results(activity, for_organiser=for_organiser)

    def export(self, activity: Activity) -> tuple[list[str], Iterable[list[Any]]]:
        from gonghui.activities.kinds.quiz import selectors

        return selectors.export(activity)


KIND = QuizKind()
